"""Weight decay as the papers train with it: coupled L2 on every parameter.

What the papers state:

- RoR (Shen & Gao 2018, §4.1): "All the models are implemented using
  PyTorch", "standard mini-batch SGD with momentum", momentum 0.9. No
  weight decay is given (the `ror` recipes assume He et al.'s 1e-4).
- RGSNet (Zhang et al. 2019, §4.2, CIFAR-100): "We set the batch size to
  128 and weight decay to 5e-4". The framework is not named.
- Res-SE-Net (Varshaneya et al. 2019, Table 3 and §5): "Weight decay |
  0.0001", momentum 0.9; "Our implementations are coded in Pytorch".
- SeqConv (Huang et al. 2019, §4.1): "Nesterov momentum of 0.9 and L2
  weight regularization of 10^-4". The authors' CIFAR training script
  hands `model.parameters()` to
  `torch.optim.SGD(..., momentum=0.9, nesterov=True, weight_decay=1e-4)`.
- RiR (Targ et al. 2016, §4): only "the best result found after a grid
  search on hyperparameters including learning rate, L2 penalty,
  initialization"; neither the value nor the framework is given (the
  `rir` recipe uses He et al.'s 1e-4).

PyTorch's `SGD(params, weight_decay=λ)` adds `λ·w` to the gradient of every
parameter it is given, before the momentum buffer; given
`model.parameters()` that is every convolution and dense weight, every
bias and every BatchNorm/GroupNorm scale γ and offset β ("coupled" L2,
unlike the decoupled decay of SGDW/AdamW or of the `weight_decay` argument
of Keras' optimizers, which shrinks `w` outside the momentum). `λ·w` is
exactly the gradient of the loss term `(λ / 2)·||w||²`, so
`apply_weight_decay(model, λ)` attaches `keras.regularizers.L2(λ / 2)` to
every trainable variable (`scope="all"`, the default): kernels, biases,
γ and β, and the variables of the package's custom layers (SeqConv2D,
RiRConv, BridgeSE, RGShortcut). Non-trainable state (BatchNorm moving
statistics, RoR's `refine_mask`, seed-generator state) is never decayed.
`scope="kernels"` decays the trainable weights of rank >= 2 only (conv and
dense kernels), the common "no decay on norms and biases" variant.

Momentum: Keras' SGD keeps `m ← μ·m − lr·g; w ← w + m` (Nesterov:
`w ← w + μ·m − lr·g`), PyTorch keeps `b ← μ·b + g` (first step `b = g`);
`w ← w − lr·b` (Nesterov: `w ← w − lr·(g + μ·b)`). With `m = −lr·b` the
two are the same updates at a constant learning rate. They differ only in
when a change of the learning rate takes effect: Keras' buffer carries the
rates of earlier steps, so after a milestone the accumulated momentum
fades to the new rate over a few `1 / (1 − μ)` steps, where PyTorch
rescales it at once.

Persistence: where a decayed variable is the `kernel`, `bias`, `gamma` or
`beta` of a stock layer (`Conv2D`, `Dense`, `BatchNormalization`,
`GroupNormalization`, ...) reachable through `model.layers` (nested
models included), the layer's `kernel_regularizer` (`bias_regularizer`,
`gamma_regularizer`, `beta_regularizer`) is set too, so the decay is part
of its config and survives a `.keras` save/load. Variables created by
custom layers (and by the stock layers they own) carry it only on the
variable; after `keras.saving.load_model` call `apply_weight_decay`
again to continue training with decay (it is idempotent). `train()` does
this on every start and resume.
"""

import keras

from keras_resvariants import _validation as v

SCOPES = ("all", "kernels")

# Layer attribute holding a variable -> the layer's regularizer argument.
_LAYER_REGULARIZERS = (
    ("kernel", "kernel_regularizer"),
    ("bias", "bias_regularizer"),
    ("gamma", "gamma_regularizer"),
    ("beta", "beta_regularizer"),
)


def kernel_variables(model):
    """Trainable variables of rank >= 2 (conv and dense kernels)."""
    return [w for w in model.trainable_weights if len(w.shape) >= 2]


def decayed_variables(model, scope="all"):
    """The variables `apply_weight_decay(model, λ, scope)` decays (λ > 0).

    Args:
        model: a built `keras.Model` (or layer).
        scope: `"all"` (every trainable variable, as the papers' PyTorch
            SGD) or `"kernels"` (trainable variables of rank >= 2).

    Returns:
        A list of variables, in `model.trainable_weights` order.
    """
    scope = v.check_choice("scope", scope, SCOPES)
    if scope == "kernels":
        return kernel_variables(model)
    return list(model.trainable_weights)


def apply_weight_decay(model, weight_decay, scope="all"):
    """Adds the papers' coupled L2 weight decay to `model`.

    Each decayed variable `w` gets `keras.regularizers.L2(λ / 2)`, whose
    gradient `λ·w` is what PyTorch's `SGD(weight_decay=λ)` adds. Every
    other trainable variable gets no regularizer, so calling again with
    another `scope` or with `0` replaces an earlier decay.

    Args:
        model: a built `keras.Model` (or layer).
        weight_decay: float >= 0. The papers' λ (PyTorch `weight_decay`);
            the loss gains `(λ / 2)·Σ||w||²` over the decayed variables.
            `0` removes the decay.
        scope: `"all"` (default; every trainable variable: kernels,
            biases, BatchNorm/GroupNorm γ and β, as the papers' PyTorch
            SGD does) or `"kernels"` (trainable variables of rank >= 2
            only).

    Returns:
        The list of regularised variables (empty when `weight_decay` is
        `0`).

    Example:

    >>> model = keras_resvariants.create_model(
    ...     "resnet_20", input_shape=(32, 32, 3), classes=10)
    >>> decayed = keras_resvariants.training.apply_weight_decay(model, 1e-4)
    >>> len(decayed) == len(model.trainable_weights)
    True
    """
    weight_decay = v.check_float("weight_decay", weight_decay, low=0.0,
                                 high=1.0)
    decayed = decayed_variables(model, scope)
    regularizer = keras.regularizers.L2(weight_decay / 2.0) if (
        weight_decay > 0) else None
    decayed_ids = {id(w) for w in decayed}
    trainable_ids = {id(w) for w in model.trainable_weights}
    for layer in _layers(model):
        for name, argument in _LAYER_REGULARIZERS:
            variable = getattr(layer, name, None)
            if (
                hasattr(layer, argument)
                and variable is not None
                and id(variable) in trainable_ids
            ):
                setattr(layer, argument, regularizer if (
                    id(variable) in decayed_ids) else None)
    for w in model.trainable_weights:
        w.regularizer = regularizer if id(w) in decayed_ids else None
    return decayed if regularizer is not None else []


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


def _layers(model):
    """`model` and every layer reachable through the public `layers`
    property of it and of the models nested in it."""
    out, seen, pending = [], set(), [model]
    while pending:
        layer = pending.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        sublayers = getattr(layer, "layers", None)
        if isinstance(sublayers, (list, tuple)):
            pending.extend(reversed(sublayers))
    return out
