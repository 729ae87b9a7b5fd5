"""Fine-tuning pretrained networks on a new task.

The two stages of the Keras transfer-learning guide, with one change:

1. **Head only.** A new head (global average pooling, optional dropout,
   `Dense(classes)`) on the pretrained network, the *base*, frozen with
   `base.trainable = False`. In Keras 3 a `BatchNormalization` layer whose
   `trainable` is `False` runs in inference mode even inside `fit`, so the
   base's BN layers use, and keep, their moving statistics.
2. **Everything, gently.** The base is unfrozen and trained with a 10x lower
   learning rate. By default (`batch_norm="train"`) its BatchNormalization
   layers train too: batch statistics in the forward pass, moving
   statistics re-estimated on the new data, scale and offset learned.
   `batch_norm="frozen"` keeps them in inference mode with the pretrained
   statistics and affine parameters, as the Keras guide does for ImageNet
   weights on photographs. Our weights come from Fashion-MNIST, and a new
   task's images are rarely distributed like it, so the pretrained
   statistics no longer normalise its activations. On scikit-learn's digits
   (docs/fine_tuning_digits.md, `examples/fine_tune.py`, 3 seeds)
   freezing them costs 4 to 12 points of test accuracy at every size, and
   makes fine-tuning lose to training from scratch with every label.

Example:

>>> rng = np.random.default_rng(0)  # stand-in data: 64 images, 3 classes
>>> images = rng.integers(0, 256, (64, 28, 28, 1)).astype("uint8")
>>> x = keras.ops.convert_to_numpy(keras_resvariants.preprocess_input(
...     images, "resnet_20.fashion_mnist"))  # the weights' preprocessing
>>> y = rng.integers(0, 3, 64)
>>> model = keras_resvariants.fine_tune.build_fine_tune_model(
...     "resnet_20", "fashion_mnist", classes=3, input_shape=(28, 28, 1))
>>> result = keras_resvariants.fine_tune.fine_tune(
...     model, x[:48], y[:48], validation_data=(x[48:], y[48:]),
...     head_epochs=1, fine_tune_epochs=1, verbose=0)
"""

import dataclasses

import keras

from keras_resvariants import _validation as v
from keras_resvariants.models import create_model
from keras_resvariants.weights import loading

BASE_NAME = "base"
OPTIMIZERS = ("adam", "sgd")
BATCH_NORM = ("train", "frozen")


@dataclasses.dataclass
class FineTuneResult:
    """What `fine_tune` returns.

    Attributes:
        head: `keras.callbacks.History` of stage 1 (base frozen).
        fine_tune: `History` of stage 2 (base unfrozen), or `None` with
            `fine_tune_epochs=0`.
    """

    head: object
    fine_tune: object


def replace_head(model, classes, *, classifier_activation="softmax",
                 dropout=0.0, name=None):
    """Puts a new classification head on a network.

    The network of `model` without its head (or its pooling) becomes one
    nested layer named `"base"`; the new head is
    `GlobalAveragePooling2D("avg_pool")`, optional `Dropout("head_dropout")`
    and `Dense(classes, name="predictions")`. The base shares its layers
    and weights with `model`.

    Args:
        model: a model from a `keras_resvariants` builder, with or without
            its head.
        classes: int. Classes of the new task.
        classifier_activation: activation of the new head (`None` for
            logits). Defaults to `"softmax"`.
        dropout: float in `[0, 1)`. Dropout before the new classifier.
            Defaults to `0.0`.
        name: optional name of the new model. Defaults to
            `"<model name>_fine_tune"`.

    Returns:
        A functional `keras.Model` with layers `base`, `avg_pool`,
        (`head_dropout`,) `predictions`.
    """
    classes = v.check_positive_int("classes", classes)
    dropout = v.check_float("dropout", dropout, low=0.0, high=1.0,
                            high_inclusive=False)
    base = keras.Model(model.inputs[0], loading.features_output(model),
                       name=BASE_NAME)
    inputs = keras.Input(shape=tuple(base.inputs[0].shape[1:]), name="image")
    x = base(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(classes, activation=classifier_activation,
                                 dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name or f"{model.name}_fine_tune")


def build_fine_tune_model(name, weights, classes, input_shape=None, *,
                          classifier_activation="softmax", dropout=0.0,
                          **hyperparameters):
    """A registered network with pretrained weights and a new head.

    Builds `name` with `include_top=False` and `weights` (the no-top file,
    whose sha256 and fingerprint are checked), then `replace_head`.

    Args:
        name: registry key or builder name, e.g. `"resnet_20"`.
        weights: tag of its published weights (e.g. `"fashion_mnist"`), a
            path to a no-top `.weights.h5` file, or `None` (from scratch,
            the same model untrained).
        classes: int. Classes of the new task.
        input_shape: optional `(height, width, channels)`; the channels
            must be the weights'. Defaults to any size with the weights'
            channels.
        classifier_activation, dropout: see `replace_head`.
        **hyperparameters: builder hyperparameters (a tag supplies its
            own).

    Returns:
        A functional `keras.Model` (see `replace_head`).
    """
    base = create_model(name, include_top=False, weights=weights,
                        input_shape=input_shape, **hyperparameters)
    return replace_head(base, classes,
                        classifier_activation=classifier_activation,
                        dropout=dropout, name=f"{base.name}_fine_tune")


def _sublayers(layer, seen=None):
    """The layers inside `layer`, depth first, each once: a model's layers
    and any layer (or list of layers) a layer holds as an attribute."""
    seen = set() if seen is None else seen
    children = list(layer.layers) if isinstance(layer, keras.Model) else []
    for value in vars(layer).values():
        values = value if isinstance(value, (list, tuple)) else [value]
        children += [v for v in values if isinstance(v, keras.layers.Layer)]
    for child in children:
        if child is not layer and id(child) not in seen:
            seen.add(id(child))
            yield child
            yield from _sublayers(child, seen)


def batch_norm_layers(model):
    """Every `BatchNormalization` layer of `model`, nested ones included."""
    return [layer for layer in _sublayers(model)
            if isinstance(layer, keras.layers.BatchNormalization)]


def freeze_base(model, base=None):
    """Stage 1: the base is not trained; its BN layers run in inference
    mode. Recompile the model afterwards."""
    base = base or model.get_layer(BASE_NAME)
    base.trainable = False
    return base


def unfreeze_base(model, base=None, *, keep_batch_norm_frozen=False):
    """Stage 2: the base is trained, its BN layers too unless
    `keep_batch_norm_frozen` (then they stay in inference mode with fixed
    statistics and affine parameters). Recompile the model afterwards."""
    base = base or model.get_layer(BASE_NAME)
    base.trainable = True
    if keep_batch_norm_frozen:
        for layer in batch_norm_layers(base):
            layer.trainable = False
    return base


def fine_tune(model, x, y=None, *, validation_data=None, batch_size=None,
              head_epochs=5, fine_tune_epochs=5, learning_rate=1e-3,
              fine_tune_factor=0.1, optimizer="adam", batch_norm="train",
              loss=None, metrics=("accuracy",), callbacks=(),
              verbose="auto", jit_compile="auto", base=None):
    """Two-stage fine-tuning: the head with the base frozen, then the
    whole network at a lower learning rate.

    Args:
        model: a model from `replace_head` / `build_fine_tune_model` (or
            any model, with `base` naming the layer to freeze).
        x, y: training data, as for `keras.Model.fit` (arrays, a
            `tf.data.Dataset` or a `keras.utils.PyDataset`).
        validation_data: optional, as for `fit`.
        batch_size: as for `fit` (arrays only).
        head_epochs: int >= 1. Epochs of stage 1. Defaults to `5`.
        fine_tune_epochs: int >= 0. Epochs of stage 2 (`0` skips it).
            Defaults to `5`.
        learning_rate: float. Stage-1 learning rate. Defaults to `1e-3`.
        fine_tune_factor: float in `(0, 1]`. Stage-2 learning rate is
            `learning_rate * fine_tune_factor`. Defaults to `0.1`.
        optimizer: `"adam"` or `"sgd"` (momentum 0.9). Defaults to
            `"adam"`.
        batch_norm: `"train"` or `"frozen"`: whether stage 2 trains the
            base's BatchNormalization layers (batch statistics, moving
            statistics updated, scale and offset learned) or keeps them in
            inference mode with the pretrained values (see the module
            docstring). Defaults to `"train"`.
        loss: optional loss. Defaults to sparse categorical cross-entropy
            (on logits if the head has no activation).
        metrics: metrics for `compile`. Defaults to `("accuracy",)`.
        callbacks: callbacks for both stages.
        verbose: as for `fit`.
        jit_compile: as for `compile`. Defaults to `"auto"`.
        base: optional layer to freeze. Defaults to the `"base"` layer.

    Returns:
        A `FineTuneResult` with both stages' histories. The model is left
        compiled for stage 2 (or stage 1 when it was skipped).
    """
    head_epochs = v.check_positive_int("head_epochs", head_epochs)
    fine_tune_epochs = v.check_int("fine_tune_epochs", fine_tune_epochs,
                                   minimum=0)
    learning_rate = v.check_positive_float("learning_rate", learning_rate)
    fine_tune_factor = v.check_float("fine_tune_factor", fine_tune_factor,
                                     low=0.0, high=1.0)
    if fine_tune_factor == 0.0:
        raise ValueError(
            "`fine_tune_factor` must be a number in (0, 1]. Received: "
            "fine_tune_factor=0.0"
        )
    v.check_choice("optimizer", optimizer, OPTIMIZERS)
    v.check_choice("batch_norm", batch_norm, BATCH_NORM)
    if loss is None:
        loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=_outputs_logits(model))
    fit = dict(y=y, validation_data=validation_data, batch_size=batch_size,
               callbacks=list(callbacks), verbose=verbose)

    freeze_base(model, base)
    model.compile(optimizer=_optimizer(optimizer, learning_rate), loss=loss,
                  metrics=list(metrics), jit_compile=jit_compile)
    head = model.fit(x, epochs=head_epochs, **fit)
    if not fine_tune_epochs:
        return FineTuneResult(head=head, fine_tune=None)

    unfreeze_base(model, base,
                  keep_batch_norm_frozen=batch_norm == "frozen")
    model.compile(
        optimizer=_optimizer(optimizer, learning_rate * fine_tune_factor),
        loss=loss, metrics=list(metrics), jit_compile=jit_compile)
    tuned = model.fit(x, initial_epoch=head_epochs,
                      epochs=head_epochs + fine_tune_epochs, **fit)
    return FineTuneResult(head=head, fine_tune=tuned)


def _optimizer(name, learning_rate):
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    return keras.optimizers.Adam(learning_rate)


def _outputs_logits(model):
    try:
        head = model.get_layer("predictions")
    except ValueError:
        return False
    activation = getattr(head, "activation", None)
    return activation is None or getattr(activation, "__name__", "") == (
        "linear")
