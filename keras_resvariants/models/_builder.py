"""`build_model`: the one keras.applications-style assembler."""

import os

import keras

from keras_resvariants import _validation as v
from keras_resvariants.blocks import specs as s
from keras_resvariants.blocks.context import BuildContext
from keras_resvariants.blocks.network import apply_features
from keras_resvariants.models._input_shape import resolve_input_shape
from keras_resvariants.weights import loading
from keras_resvariants.weights import registry

POOLINGS = (None, "avg", "max")

# Initializers by `NetSpec.init`: PyTorch's kaiming-normal (fan_out) for the
# ResNet families; the SeqConv authors' uniform variants (docs/design.md).
_INITS = {
    "he": (
        {"class_name": "VarianceScaling",
         "config": {"scale": 2.0, "mode": "fan_out",
                    "distribution": "untruncated_normal"}},
        "glorot_uniform",
    ),
    "seqconv": (
        {"class_name": "VarianceScaling",
         "config": {"scale": 2.0, "mode": "fan_out",
                    "distribution": "uniform"}},
        {"class_name": "VarianceScaling",
         "config": {"scale": 1.0, "mode": "fan_out",
                    "distribution": "uniform"}},
    ),
}


def build_model(spec: s.NetSpec, *, include_top=True, weights=None,
                input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name=None,
                arch=None):
    """Builds a functional `keras.Model` from a `NetSpec`.

    `weights` is `None`, a tag (or `"arch.tag"` name, or `WeightsRecord`)
    of published weights of `arch`, or the path to a `.weights.h5` file.
    Builders pass the record's hyperparameters, classes and input shape as
    defaults; here the arguments are checked against the record before
    anything is built, and the model's weight structure against the
    record's fingerprint before anything is loaded.
    """
    if not isinstance(include_top, bool):
        raise ValueError(
            "`include_top` must be True or False. Received: "
            f"include_top={include_top!r}"
        )
    record, weights_path = _check_weights(weights, arch)
    v.check_choice("pooling", pooling, POOLINGS)
    if include_top:
        classes = v.check_positive_int("classes", classes)
        activation = _check_activation(classifier_activation)
    shape = resolve_input_shape(
        input_shape,
        input_tensor,
        default_size=spec.default_size,
        min_size=spec.total_stride,
        include_top=include_top,
    )
    if record is not None:
        loading.check_input_shape(record, shape, include_top=include_top)
        if include_top and classes == record.classes:
            _check_pretrained_activation(classifier_activation, record)

    if input_tensor is None:
        image = keras.Input(shape=shape, name="image")
    elif keras.backend.is_keras_tensor(input_tensor):
        image = input_tensor
    else:
        image = keras.Input(tensor=input_tensor, shape=shape, name="image")

    conv_init, dense_init = _INITS[spec.init]
    ctx = BuildContext(seed=spec.seed, conv_init=conv_init,
                       dense_init=dense_init)
    x = apply_features(spec, image, ctx)

    if include_top and isinstance(spec.head, s.ConvHead):
        # 1x1 conv + BN before pooling, as the public RiR code has it; its
        # BN affine is what takes RiR-18-wide to the expected 9,469,940.
        x = ctx.conv(x, classes, 1, name="predictions_conv")
        x = ctx.bn(x, name="predictions_bn")
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Activation(activation, dtype="float32",
                                    name="predictions")(x)
    elif include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(classes, activation=activation,
                               kernel_initializer=keras.initializers.get(
                                   dense_init),
                               dtype="float32", name="predictions")(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)

    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    else:
        inputs = image
    model = keras.Model(inputs, x, name=name)
    if record is not None:
        loading.load_pretrained(model, record, _image=image)
    elif weights_path is not None:
        # Into the network alone: layers before `input_tensor` are not part
        # of the file.
        network = model if inputs is image else keras.Model(image, x)
        network.load_weights(weights_path)
    return model


def _check_weights(weights, arch):
    """Returns `(record, path)`: at most one is not None."""
    if weights is None:
        return None, None
    record = registry.find_record(arch, weights)
    if record is not None:
        return record, None
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        return None, os.fspath(weights)
    tags = registry.tags(arch) if arch is not None else []
    published = (
        f"one of the tags of {arch}'s published weights "
        f"({', '.join(repr(t) for t in tags)}), "
        if tags else
        (f"a tag of published weights ({arch} has none yet: see "
         "keras_resvariants.list_weights()), " if arch is not None else "")
    )
    raise ValueError(
        f"`weights` must be None (random initialization), {published}or "
        "the path to an existing `.weights.h5` file. Received: "
        f"weights={weights!r}"
    )


def _check_pretrained_activation(activation, record):
    # As keras.applications: a loaded head was trained with softmax.
    if not (activation is None or activation == "softmax"
            or activation is keras.activations.softmax):
        raise ValueError(
            "`classifier_activation` must be None or 'softmax' when loading "
            f"the head of `weights`={record.name!r} (trained with softmax). "
            f"Received: classifier_activation={activation!r}"
        )


def _check_activation(activation):
    if activation is None or callable(activation):
        return activation
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError):
        raise ValueError(
            "`classifier_activation` must be None, a callable or the name of "
            "a Keras activation (e.g. 'softmax', 'sigmoid', 'linear'). "
            f"Received: classifier_activation={activation!r}"
        ) from None
    return activation
