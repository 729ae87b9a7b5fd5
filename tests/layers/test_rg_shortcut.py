import inspect

import keras
import numpy as np
import pytest

from keras_resvariants.layers import RGShortcut
from tests.reference.rg_shortcut_ref import rg_shortcut_ref
from tests.testing import assert_all_trainable_weights_get_gradients
from tests.testing import assert_config_round_trip
from tests.testing import assert_keras_reload_in_fresh_process
from tests.testing import count_trainable
from tests.testing import input_gradients
from tests.testing import trainable_gradients

SHAPE = (2, 8, 8, 16)


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _x(shape=SHAPE, seed=0, scale=1.0, offset=0.0):
    rng = np.random.default_rng(seed)
    return (offset + scale * rng.standard_normal(shape)).astype("float32")


def _randomise_affine(layer, seed=1):
    # Non-trivial gamma/beta so the test covers the affine part too.
    rng = np.random.default_rng(seed)
    gamma, beta = layer.norm.gamma, layer.norm.beta
    gamma.assign(rng.uniform(0.5, 1.5, gamma.shape).astype("float32"))
    beta.assign(rng.normal(0.0, 0.5, beta.shape).astype("float32"))
    return _np(gamma), _np(beta)


@pytest.mark.parametrize(
    "shape, groups",
    [
        ((2, 8, 8, 16), 4),
        ((2, 8, 8, 16), 16),
        ((3, 4, 5, 8), 1),
    ],
)
def test_fast_and_keras_match_reference(shape, groups):
    x = _x(shape)
    fast = RGShortcut(groups=groups)
    slow = RGShortcut(groups=groups, implementation="keras")
    fast.build(shape)
    slow.build(shape)
    gamma, beta = _randomise_affine(fast)
    slow.set_weights(fast.get_weights())
    y_fast = _np(fast(x))
    y_keras = _np(slow(x))
    expected = rg_shortcut_ref(x, groups, gamma, beta, 1e-5)
    np.testing.assert_allclose(y_fast, y_keras, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_fast, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_keras, expected, rtol=1e-5, atol=1e-5)
    assert y_fast.dtype == np.float32


def test_fast_is_robust_to_a_large_mean():
    # Inputs with mean 1000 and std ~1: E[x^2] - E[x]^2 in float32 would
    # lose every significant digit of the variance; the per-channel
    # moments + pooled variance keep the output accurate.
    x = _x(offset=1000.0)
    layer = RGShortcut(groups=4, epsilon=1e-5)
    y = _np(layer(x))
    expected = rg_shortcut_ref(x, 4, np.ones(16), np.zeros(16), 1e-5)
    np.testing.assert_allclose(y, expected, atol=2e-3)


@pytest.mark.parametrize("implementation", ["fast", "keras"])
def test_epsilon_is_used(implementation):
    # A large epsilon shrinks the normalised values measurably.
    x = _x()
    layer = RGShortcut(groups=4, epsilon=10.0, implementation=implementation)
    big = _np(layer(x))
    expected = rg_shortcut_ref(x, 4, np.ones(16), np.zeros(16), 10.0)
    np.testing.assert_allclose(big, expected, rtol=1e-5, atol=1e-5)
    default = rg_shortcut_ref(x, 4, np.ones(16), np.zeros(16), 1e-5)
    assert np.max(np.abs(default - expected)) > 0.1


def test_same_in_training_and_inference():
    x = _x()
    layer = RGShortcut(groups=8)
    np.testing.assert_array_equal(_np(layer(x, training=True)), _np(layer(x)))


def test_parameters_are_two_per_channel_and_keras_group_norm():
    for channels, groups in [(16, 4), (32, 32), (64, 8)]:
        layer = RGShortcut(groups=groups)
        layer.build((None, 4, 4, channels))
        # docs/design.md#rgs: 2C parameters (gamma and beta).
        assert count_trainable(layer) == 2 * channels
        assert isinstance(layer.norm, keras.layers.GroupNormalization)
        assert layer.norm.groups == groups and layer.norm.axis == -1
        np.testing.assert_array_equal(_np(layer.norm.gamma), np.ones(channels))
        np.testing.assert_array_equal(_np(layer.norm.beta), np.zeros(channels))


@pytest.mark.parametrize("implementation", ["fast", "keras"])
def test_gradients(implementation):
    inp = keras.Input(SHAPE[1:])
    model = keras.Model(
        inp, RGShortcut(groups=4, implementation=implementation)(inp)
    )
    assert_all_trainable_weights_get_gradients(model, _x())


def test_fast_and_keras_gradients_agree():
    x = _x()
    models = []
    for implementation in ("fast", "keras"):
        inp = keras.Input(SHAPE[1:])
        layer = RGShortcut(groups=4, implementation=implementation)
        models.append(keras.Model(inp, layer(inp)))
    _randomise_affine(models[0].layers[-1])
    models[1].set_weights(models[0].get_weights())
    for a, b in zip(
        trainable_gradients(models[0], x) + input_gradients(models[0], x),
        trainable_gradients(models[1], x) + input_gradients(models[1], x),
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("implementation", ["fast", "keras"])
def test_mixed_precision_finite(implementation):
    keras.config.set_dtype_policy("mixed_float16")
    inp = keras.Input(SHAPE[1:])
    layer = RGShortcut(groups=4, implementation=implementation)
    model = keras.Model(inp, layer(inp))
    assert layer.norm.gamma.dtype == "float32"
    x = _x(scale=1000.0)
    y = _np(model(x))
    assert y.dtype == np.float16
    assert np.all(np.isfinite(y))
    # Still normalised: statistics were taken in float32.
    expected = rg_shortcut_ref(x, 4, np.ones(16), np.zeros(16), 1e-5)
    np.testing.assert_allclose(y, expected, atol=2e-2)
    for grads in (trainable_gradients(model, x), input_gradients(model, x)):
        assert all(np.all(np.isfinite(g)) for g in grads)


def test_keras_reload_in_fresh_process(tmp_path):
    inp = keras.Input(SHAPE[1:])
    layer = RGShortcut(groups=4)
    model = keras.Model(inp, layer(inp))
    _randomise_affine(layer)
    assert_keras_reload_in_fresh_process(model, _x(), tmp_path)


def test_config_round_trip_and_exact_keys():
    layer = RGShortcut(
        groups=8, epsilon=1e-3, implementation="keras", name="rg"
    )
    clone = assert_config_round_trip(layer)
    assert (clone.groups, clone.epsilon, clone.implementation) == (
        8,
        1e-3,
        "keras",
    )
    assert clone.norm.epsilon == 1e-3 and clone.norm.groups == 8
    own = set(layer.get_config()) - set(keras.layers.Layer().get_config())
    params = set(inspect.signature(RGShortcut.__init__).parameters)
    assert own == params - {"self", "kwargs"}


def test_compute_output_shape():
    layer = RGShortcut(groups=4)
    assert layer.compute_output_shape((None, 8, 8, 16)) == (None, 8, 8, 16)
    out = RGShortcut(groups=4)(keras.Input((8, 8, 16)))
    assert tuple(out.shape) == (None, 8, 8, 16)
    assert _np(layer(_x())).shape == layer.compute_output_shape(SHAPE)


def test_groups_must_divide_channels():
    for channels, groups in [(16, 3), (16, 32), (24, 16)]:
        with pytest.raises(
            ValueError, match=f"`groups`.*Received: groups={groups}"
        ):
            RGShortcut(groups=groups)(_x((2, 4, 4, channels)))


BAD_ARGUMENTS = [
    ({"groups": 0}, "groups"),
    ({"groups": -1}, "groups"),
    ({"groups": 2.0}, "groups"),
    ({"groups": "8"}, "groups"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"epsilon": -1e-5}, "epsilon"),
    ({"epsilon": float("nan")}, "epsilon"),
    ({"epsilon": "1e-5"}, "epsilon"),
    ({"implementation": "slow"}, "implementation"),
]


def test_bad_arguments():
    for kwargs, name in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=f"`{name}`.*Received: {name}="):
            RGShortcut(**kwargs)
