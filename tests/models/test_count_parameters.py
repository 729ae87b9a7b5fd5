"""`count_parameters`: the one parameter counter (training metrics, weight
records and the model table read it)."""

import keras

from keras_resvariants.macs import count_parameters


def test_counts_by_hand():
    inputs = keras.Input((5, 5, 4))
    x = keras.layers.Conv2D(6, 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3)(x)
    model = keras.Model(inputs, outputs)
    # conv 3*3*4*6, BN gamma+beta 2*6 (moving mean/variance 2*6 are not
    # trainable), dense 6*3 + 3.
    trainable = 3 * 3 * 4 * 6 + 2 * 6 + 6 * 3 + 3
    assert count_parameters(model) == {
        "trainable": trainable, "non_trainable": 12,
        "total": trainable + 12}
    assert count_parameters(model)["total"] == model.count_params()
