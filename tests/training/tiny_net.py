"""A tiny network with every custom layer of the package, for the
training tests (distribution, resume). Deterministic in training: RoRAdd's
drop rate and SeqConv2D's dropout are 0, so two runs from the same seed see
the same function."""

import keras

from keras_resvariants import layers


def tiny_all_layers_net(input_shape, classes, width=8):
    image = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                            name="stem_conv")(image)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = layers.SeqConv2D(width, group_width=width // 2, return_raw=False,
                         seed=3, name="seq")(x)
    r = keras.layers.Conv2D(width // 2, 1, use_bias=False, name="to_r")(x)
    m = keras.layers.Conv2D(width // 2, 1, use_bias=False, name="to_m")(x)
    r, m = layers.RiRConv(width // 2, width // 2, seed=4, name="rir")([r, m])
    x = keras.layers.Concatenate(name="streams")([r, m])
    shortcut = keras.layers.Conv2D(2 * width, 1, strides=2, use_bias=False,
                                   name="proj")(x)
    shortcut = keras.layers.BatchNormalization(name="proj_bn")(shortcut)
    shortcut = layers.BridgeSE(reduction=4, name="bridge_se")(shortcut)
    residual = keras.layers.Conv2D(2 * width, 3, strides=2, padding="same",
                                   use_bias=False, name="res_conv")(x)
    residual = keras.layers.BatchNormalization(name="res_bn")(residual)
    x = layers.RoRAdd(represent_ratio=0.25, drop_rate=0.0, seed=5,
                      name="ror")([shortcut, residual])
    x = keras.layers.Add(name="rg_merge")(
        [x, layers.RGShortcut(groups=4, name="rg")(x)]
    )
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    out = keras.layers.Dense(classes, activation="softmax",
                             name="predictions")(x)
    return keras.Model(image, out, name="tiny_all_layers")


def tiny_plain_net(input_shape, classes, width=8):
    """Conv-BN-ReLU-pool-dense: few variables, for the multi-process test
    (on multi-process JAX every variable creation is a cross-process
    check, ~1 s each on a loaded 2-core machine)."""
    image = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(width, 3, strides=2, padding="same",
                            use_bias=False, name="conv")(image)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    out = keras.layers.Dense(classes, activation="softmax",
                             name="predictions")(x)
    return keras.Model(image, out, name="tiny_plain")
