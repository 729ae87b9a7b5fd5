"""GroupedConv2D: the fast formulation equals Conv2D(groups) exactly."""

import keras
import numpy as np
import pytest

from keras_resvariants.layers import GroupedConv2D
from tests import testing

CASES = [
    # groups, strides, dilation, padding, use_bias, c_in, filters
    (4, 1, 1, "same", False, 8, 16),
    (8, 2, 1, "same", True, 16, 8),
    (2, 1, 2, "valid", False, 4, 6),
    (16, 2, 1, "valid", False, 16, 16),
    (2, 1, 1, "same", False, 32, 8),     # wide groups: one slice each
    (16, 2, 1, "same", False, 128, 32),  # narrow: 4 slices of 4 groups
]


def _pair(case, implementation):
    groups, strides, dilation, padding, use_bias, c_in, filters = case
    kwargs = dict(filters=filters, kernel_size=3, strides=strides,
                  dilation_rate=dilation, padding=padding, groups=groups,
                  use_bias=use_bias,
                  bias_initializer="random_normal" if use_bias else "zeros")
    inputs = keras.Input((9, 9, c_in))
    reference = keras.Model(inputs, keras.layers.Conv2D(**kwargs)(inputs))
    inputs = keras.Input((9, 9, c_in))
    fast = keras.Model(
        inputs,
        GroupedConv2D(implementation=implementation, **kwargs)(inputs),
    )
    fast.set_weights(reference.get_weights())
    return reference, fast


@pytest.mark.parametrize("implementation", ["split", "auto"])
@pytest.mark.parametrize("case", CASES)
def test_matches_keras_grouped_conv(case, implementation):
    reference, fast = _pair(case, implementation)
    x = np.random.default_rng(0).standard_normal(
        (2, 9, 9, case[5])).astype("float32")
    expected = testing.predict_outputs(reference, x)[0]
    got = testing.predict_outputs(fast, x)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # Same gradients w.r.t. the kernel (and bias) and the input.
    for a, b in zip(testing.trainable_gradients(fast, x),
                    testing.trainable_gradients(reference, x)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(testing.input_gradients(fast, x)[0],
                               testing.input_gradients(reference, x)[0],
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_trainable_parameters_match_conv2d_and_formula(case):
    groups, _, _, _, use_bias, c_in, filters = case
    reference, fast = _pair(case, "split")
    formula = 3 * 3 * (c_in // groups) * filters + (filters if use_bias
                                                    else 0)
    assert testing.count_trainable(fast) == formula
    assert testing.count_trainable(reference) == formula
    assert [w.shape for w in fast.weights] == [
        w.shape for w in reference.weights]


@pytest.mark.parametrize(
    "groups, c_in, chunk",
    [(2, 32, 1), (8, 128, 1), (16, 128, 4), (24, 192, 4), (64, 256, 8),
     (4, 8, 4), (3, 24, 3)],
)
def test_narrow_groups_are_sliced_up_to_32_channels(groups, c_in, chunk):
    assert GroupedConv2D(groups, 3, groups=groups)._chunk(
        c_in // groups) == chunk


def test_auto_splits_only_on_tensorflow():
    layer = GroupedConv2D(8, 3, groups=4)
    assert layer._split() == (keras.backend.backend() == "tensorflow")
    assert not GroupedConv2D(8, 3, groups=4, implementation="native")._split()
    assert not GroupedConv2D(8, 3, implementation="split")._split()


def test_config_round_trip_and_fresh_process_reload(tmp_path):
    layer = GroupedConv2D(8, 3, groups=4, strides=2, padding="same",
                          implementation="split", name="gconv")
    clone = testing.assert_config_round_trip(layer)
    assert clone.implementation == "split" and clone.groups == 4
    inputs = keras.Input((8, 8, 8))
    model = keras.Model(inputs, layer(inputs))
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 8)).astype(
        "float32")
    testing.assert_keras_reload_in_fresh_process(model, x, tmp_path)


def test_mixed_precision_outputs_and_gradients_finite():
    keras.config.set_dtype_policy("mixed_float16")
    inputs = keras.Input((8, 8, 8))
    model = keras.Model(
        inputs, GroupedConv2D(8, 3, groups=4, padding="same")(inputs))
    x = 1000 * np.random.default_rng(2).standard_normal(
        (2, 8, 8, 8)).astype("float32")
    out = testing.predict_outputs(model, x)[0]
    assert out.dtype == np.float16
    assert np.all(np.isfinite(out))
    for grad in testing.trainable_gradients(model, x):
        assert np.all(np.isfinite(grad))


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(implementation="fastest"), "implementation"),
     # channels_first is supported (tests/layers/test_channels_first.py).
     (dict(data_format="channels_middle"), "data_format")],
)
def test_invalid_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        GroupedConv2D(8, 3, groups=4, **kwargs)


def test_graph_builder_uses_it_for_grouped_convs_only():
    import keras_resvariants as kr

    model = kr.create_model("resnext_29", input_shape=(8, 8, 3), classes=10,
                            cardinality=2, base_width=4)
    convs = [layer for layer in model.layers
             if isinstance(layer, keras.layers.Conv2D)]
    grouped = [layer for layer in convs if layer.groups > 1]
    assert len(grouped) == 9  # one grouped 3x3 per block, 3 x 3 blocks
    assert all(isinstance(layer, GroupedConv2D) for layer in grouped)
    assert not any(isinstance(layer, GroupedConv2D) for layer in convs
                   if layer.groups == 1)
