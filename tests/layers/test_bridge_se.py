import inspect

import keras
import numpy as np
import pytest

from keras_resvariants.layers import BridgeSE
from tests.reference.bridge_se_ref import bridge_se_param_count
from tests.reference.bridge_se_ref import bridge_se_ref
from tests.testing import assert_all_trainable_weights_get_gradients
from tests.testing import assert_config_round_trip
from tests.testing import assert_keras_reload_in_fresh_process
from tests.testing import count_trainable
from tests.testing import input_gradients
from tests.testing import trainable_gradients

SHAPE = (2, 8, 8, 32)


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _x(shape=SHAPE, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    # A per-channel offset so the squeezed vector is far from zero.
    offset = rng.normal(0.0, 1.0, shape[-1])
    return (scale * (offset + rng.standard_normal(shape))).astype("float32")


def _randomise(layer, seed=1):
    # Non-zero biases so the test covers them too.
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(0.0, 0.5, w.shape).astype("float32"))
    return [_np(w) for w in layer.weights]


def _weights_by_role(layer):
    return [
        _np(w)
        for w in (
            layer.squeeze_kernel,
            layer.squeeze_bias,
            layer.excite_kernel,
            layer.excite_bias,
        )
    ]


@pytest.mark.parametrize(
    "shape, reduction",
    [((2, 8, 8, 32), 16), ((3, 4, 5, 24), 4), ((2, 2, 2, 8), 8)],
)
def test_matches_reference(shape, reduction):
    x = _x(shape)
    layer = BridgeSE(reduction=reduction)
    layer.build(shape)
    _randomise(layer)
    y = _np(layer(x))
    expected = bridge_se_ref(x, *_weights_by_role(layer))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(_np(layer(x, training=True)), y)


def test_parameter_count_matches_spec():
    # docs/design.md#res_se: 162 for C = 32 and 580 for C = 64 (r = 16).
    for channels, expected in [(32, 162), (64, 580)]:
        layer = BridgeSE()
        layer.build((None, 4, 4, channels))
        assert count_trainable(layer) == expected
    for channels, reduction in [(16, 16), (48, 16), (10, 3)]:
        layer = BridgeSE(reduction=reduction)
        layer.build((None, 4, 4, channels))
        assert count_trainable(layer) == bridge_se_param_count(
            channels, reduction
        )
        assert layer.squeeze_kernel.shape == (channels, channels // reduction)
        assert not layer.non_trainable_weights


def test_gradients():
    inp = keras.Input(SHAPE[1:])
    model = keras.Model(inp, BridgeSE(reduction=16)(inp))
    assert_all_trainable_weights_get_gradients(model, _x())


def test_mixed_precision_finite():
    keras.config.set_dtype_policy("mixed_float16")
    inp = keras.Input(SHAPE[1:])
    layer = BridgeSE(reduction=16)
    model = keras.Model(inp, layer(inp))
    assert all(w.dtype == "float32" for w in layer.weights)
    x = _x(scale=1000.0)
    y = _np(model(x))
    assert y.dtype == np.float16
    assert np.all(np.isfinite(y))
    expected = bridge_se_ref(x, *_weights_by_role(layer))
    np.testing.assert_allclose(y, expected, rtol=2e-3, atol=1e-2 * 1000.0)
    for grads in (trainable_gradients(model, x), input_gradients(model, x)):
        assert all(np.all(np.isfinite(g)) for g in grads)


def test_keras_reload_in_fresh_process(tmp_path):
    inp = keras.Input(SHAPE[1:])
    layer = BridgeSE(reduction=8)
    model = keras.Model(inp, layer(inp))
    _randomise(layer)
    assert_keras_reload_in_fresh_process(model, _x(), tmp_path)


def test_config_round_trip_and_exact_keys():
    layer = BridgeSE(reduction=4, name="se")
    clone = assert_config_round_trip(layer)
    assert clone.reduction == 4
    own = set(layer.get_config()) - set(keras.layers.Layer().get_config())
    params = set(inspect.signature(BridgeSE.__init__).parameters)
    assert own == params - {"self", "kwargs"}


def test_compute_output_shape():
    layer = BridgeSE(reduction=16)
    assert layer.compute_output_shape((None, 8, 8, 32)) == (None, 8, 8, 32)
    out = BridgeSE(reduction=16)(keras.Input((8, 8, 32)))
    assert tuple(out.shape) == (None, 8, 8, 32)
    assert _np(layer(_x())).shape == layer.compute_output_shape(SHAPE)


def test_hidden_width_below_one_is_rejected():
    for channels, reduction in [(8, 16), (15, 16), (3, 4)]:
        with pytest.raises(
            ValueError, match=f"`reduction`.*Received: reduction={reduction}"
        ):
            BridgeSE(reduction=reduction)(_x((2, 2, 2, channels)))


def test_bad_arguments():
    for value in (0, -4, 1.5, "16", True, None):
        with pytest.raises(
            ValueError, match="`reduction`.*Received: reduction="
        ):
            BridgeSE(reduction=value)
