"""GroupedConv2D: the fast formulation equals Conv2D(groups) exactly."""

import keras
import numpy as np
import pytest

from keras_resvariants.layers import GroupedConv2D
from keras_resvariants.layers import get_implementation
from keras_resvariants.layers import implementation_scope
from keras_resvariants.layers.implementation import on_accelerator
from tests import testing
from tests.testing import count_calls

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
    layer = GroupedConv2D(**kwargs)
    layer.implementation = implementation  # run time, this instance
    fast = keras.Model(inputs, layer(inputs))
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


def test_auto_splits_only_on_a_cpu():
    layer = GroupedConv2D(8, 3, groups=4)
    assert layer.implementation is None
    assert get_implementation(GroupedConv2D) == "auto"
    assert layer._split() == (not on_accelerator())
    layer.implementation = "native"
    assert not layer._split()
    layer.implementation = "split"
    assert layer._split()
    layer.implementation = None
    with implementation_scope("GroupedConv2D", "native"):
        assert not layer._split()
    with implementation_scope("GroupedConv2D", "split"):
        assert layer._split()
        ungrouped = GroupedConv2D(8, 3)
        assert not ungrouped._split()  # groups=1: always Conv2D's own
    assert layer._split() == (not on_accelerator())


def test_auto_is_native_on_an_accelerator(monkeypatch):
    from keras_resvariants.layers import implementation

    layer = GroupedConv2D(8, 3, groups=4)
    monkeypatch.setattr(implementation, "on_accelerator", lambda: True)
    assert not layer._split()
    monkeypatch.setattr(implementation, "on_accelerator", lambda: False)
    assert layer._split()


def _count_split_convs(monkeypatch):
    """Counts the per-slice `keras.ops.conv` calls of the split path
    (Conv2D's own `convolution_op` does not go through `keras.ops`)."""
    return count_calls(monkeypatch, keras.ops, "conv")


def test_one_instance_runs_both_ways_chosen_at_call_time(monkeypatch):
    # Narrow groups (2 slices of 8 groups of 4 channels): the split path
    # makes 2 convolutions; the native one none through `keras.ops`.
    inputs = keras.Input((5, 5, 64))
    layer = GroupedConv2D(32, 3, groups=16, padding="same", use_bias=True,
                          bias_initializer="random_normal")
    assert layer._chunk(4) == 8
    model = keras.Model(inputs, layer(inputs))
    x = np.random.default_rng(3).standard_normal((2, 5, 5, 64)).astype(
        "float32")
    calls = _count_split_convs(monkeypatch)
    results = {}
    for choice, slices in (("split", 2), ("native", 0)):
        with implementation_scope(GroupedConv2D, choice):
            calls.clear()
            outputs = testing.predict_outputs(model, x)
            assert len(calls) == slices, choice
            results[choice] = (outputs
                               + testing.trainable_gradients(model, x)
                               + testing.input_gradients(model, x))
    for a, b in zip(results["split"], results["native"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    # The instance's own choice wins over the process-wide one.
    calls.clear()
    layer.implementation = "native"
    with implementation_scope(GroupedConv2D, "split"):
        out = testing.predict_outputs(model, x)[0]
    assert calls == []
    np.testing.assert_allclose(out, results["split"][0], rtol=1e-5,
                               atol=1e-5)


def test_config_round_trip_and_fresh_process_reload(tmp_path):
    layer = GroupedConv2D(8, 3, groups=4, strides=2, padding="same",
                          name="gconv")
    layer.implementation = "split"
    config = layer.get_config()
    assert "implementation" not in config
    clone = testing.assert_config_round_trip(layer)
    # Not saved: the clone follows the process-wide choice.
    assert clone.implementation is None and clone.groups == 4
    inputs = keras.Input((8, 8, 8))
    model = keras.Model(inputs, layer(inputs))
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 8)).astype(
        "float32")
    testing.assert_keras_reload_in_fresh_process(model, x, tmp_path)


@pytest.mark.parametrize("old", ["auto", "split", "native"])
def test_configs_saved_with_an_implementation_still_load(old):
    config = GroupedConv2D(8, 3, groups=4, name="gconv").get_config()
    clone = GroupedConv2D.from_config({**config, "implementation": old})
    assert clone.implementation is None
    assert clone.get_config() == config


def test_the_constructor_argument_is_a_deprecated_override():
    with pytest.warns(DeprecationWarning,
                      match="`implementation` argument of GroupedConv2D"):
        layer = GroupedConv2D(8, 3, groups=4, implementation="native")
    assert layer.implementation == "native" and not layer._split()
    assert "implementation" not in layer.get_config()


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


def test_invalid_implementation_names_the_value_and_the_choices():
    layer = GroupedConv2D(8, 3, groups=4)
    for bad in ("fastest", "fast", "Split", 1):
        with pytest.raises(ValueError) as info:
            layer.implementation = bad
        message = str(info.value)
        assert message.startswith("`implementation` must be one of None, "
                                  "'auto', 'split', 'native' for "
                                  "GroupedConv2D.")
        assert message.endswith(f"Received: implementation={bad!r}")
    assert layer.implementation is None


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
