"""Weight decay the way the papers apply it: L2 on kernels, as a loss term.

The papers train with PyTorch's `SGD(weight_decay=λ)`, which adds `λ·w` to
each gradient. That is exactly the gradient of the loss term
`(λ / 2)·||w||²`, so `apply_weight_decay(model, λ)` attaches
`keras.regularizers.L2(λ / 2)` to every *kernel*: every trainable weight of
rank >= 2 (convolution kernels, dense kernels, including those inside the
package's custom layers: SeqConv2D, RiRConv, BridgeSE). BatchNorm and
GroupNorm scales and offsets and all biases (rank 1) are not decayed.

Persistence: stock `Conv2D`/`Dense` layers also get the regularizer as
their `kernel_regularizer`, so it is part of their config and survives a
`.keras` save/load. Kernels created by custom layers carry it only on the
variable; after `keras.saving.load_model` call `apply_weight_decay` again
to continue training with decay (it is idempotent). `train()` does this on
every start and resume.
"""

import keras

from keras_resvariants import _validation as v


def kernel_variables(model):
    """Trainable variables of rank >= 2 (conv and dense kernels)."""
    return [w for w in model.trainable_weights if len(w.shape) >= 2]


def apply_weight_decay(model, weight_decay):
    """Adds the papers' L2 weight decay to every kernel of `model`.

    Args:
        model: a built `keras.Model` (or layer).
        weight_decay: float >= 0. The papers' λ (PyTorch `weight_decay`);
            the loss gains `(λ / 2)·Σ||kernel||²`. `0` removes the decay.

    Returns:
        The list of regularised variables.

    Example:

    >>> model = keras_resvariants.create_model(
    ...     "resnet_20", input_shape=(32, 32, 3), classes=10)
    >>> kernels = keras_resvariants.training.apply_weight_decay(model, 1e-4)
    """
    weight_decay = v.check_float("weight_decay", weight_decay, low=0.0,
                                 high=1.0)
    regularizer = keras.regularizers.L2(weight_decay / 2.0) if (
        weight_decay > 0) else None
    kernels = kernel_variables(model)
    kernel_ids = {id(w) for w in kernels}
    for layer in model._flatten_layers(include_self=True):
        kernel = getattr(layer, "kernel", None)
        if (
            hasattr(layer, "kernel_regularizer")
            and kernel is not None
            and id(kernel) in kernel_ids
        ):
            layer.kernel_regularizer = regularizer
    for w in kernels:
        w.regularizer = regularizer
    return kernels if regularizer is not None else []


def weight_decay_penalty(model):
    """Current value of the weight-decay loss terms of `model`, a float."""
    losses = [
        w.regularizer(w) for w in model.trainable_weights
        if w.regularizer is not None
    ]
    if not losses:
        return 0.0
    return float(keras.ops.convert_to_numpy(keras.ops.sum(
        keras.ops.stack([keras.ops.cast(x, "float32") for x in losses])
    )))
