import inspect
import os

import keras
import numpy as np
import pytest

from keras_resvariants.layers import RoRAdd
from tests.reference.ror_add_ref import inference_gate_ref
from tests.reference.ror_add_ref import represent_indices_ref
from tests.reference.ror_add_ref import ror_add_ref
from tests.reference.ror_add_ref import training_gate_values_ref
from tests.testing import assert_all_trainable_weights_get_gradients
from tests.testing import assert_config_round_trip
from tests.testing import assert_keras_reload_in_fresh_process
from tests.testing import count_trainable
from tests.testing import input_gradients

SHAPE = (3, 4, 4, 16)


def _inputs(shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype("float32")
    # Residual bounded away from zero, so a dropped and a kept gate always
    # give distinguishable outputs.
    f = (rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)).astype(
        "float32"
    )
    return x, f


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _gates_per_example(y, x, f, rep, drop_rate, scale_at):
    """Which training gate value each example used; asserts every example
    matches the reference with exactly one of the two allowed values."""
    values = training_gate_values_ref(drop_rate, scale_at)
    used = []
    for b in range(y.shape[0]):
        hits = [
            g
            for g in values
            if np.allclose(
                y[b : b + 1],
                ror_add_ref(x[b : b + 1], f[b : b + 1], rep, g),
                rtol=1e-6,
                atol=1e-6,
            )
        ]
        assert len(hits) == 1, (b, hits)
        used.append(hits[0])
    return np.array(used)


@pytest.mark.parametrize("scale_at", ["inference", "train"])
def test_inference_matches_reference(scale_at):
    x, f = _inputs()
    layer = RoRAdd(
        represent_ratio=0.25, drop_rate=0.3, scale_at=scale_at, seed=3
    )
    y = _np(layer([x, f], training=False))
    rep = represent_indices_ref(0.25, 3, SHAPE[-1])
    expected = ror_add_ref(x, f, rep, inference_gate_ref(0.3, scale_at))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    assert y.dtype == np.float32


@pytest.mark.parametrize("scale_at", ["inference", "train"])
def test_training_batch_mode_gates(scale_at):
    p = 0.3
    x, f = _inputs()
    layer = RoRAdd(
        represent_ratio=0.25,
        drop_rate=p,
        drop_mode="batch",
        scale_at=scale_at,
        seed=5,
    )
    rep = represent_indices_ref(0.25, 5, SHAPE[-1])
    calls = 200
    kept = 0
    _, keep_value = training_gate_values_ref(p, scale_at)
    for _ in range(calls):
        y = _np(layer([x, f], training=True))
        gates = _gates_per_example(y, x, f, rep, p, scale_at)
        # One gate for the whole batch.
        assert np.all(gates == gates[0])
        # Represent channels are never scaled or dropped.
        np.testing.assert_array_equal(y[..., rep], f[..., rep])
        kept += gates[0] == keep_value
    _assert_binomial(kept, calls, 1.0 - p)


def test_training_sample_mode_gates():
    p = 0.4
    x, f = _inputs(shape=(64, 2, 2, 8))
    layer = RoRAdd(
        represent_ratio=0.25, drop_rate=p, drop_mode="sample", seed=9
    )
    rep = represent_indices_ref(0.25, 9, 8)
    kept = 0
    mixed_batches = 0
    calls = 8
    for _ in range(calls):
        y = _np(layer([x, f], training=True))
        gates = _gates_per_example(y, x, f, rep, p, "inference")
        np.testing.assert_array_equal(y[..., rep], f[..., rep])
        kept += int(np.sum(gates == 1.0))
        mixed_batches += len(set(gates.tolist())) == 2
    # Per-example gates: a batch of 64 holds both kinds (P(not) ~ 1e-14).
    assert mixed_batches == calls
    _assert_binomial(kept, calls * 64, 1.0 - p)


def _assert_binomial(kept, n, q):
    sd = np.sqrt(n * q * (1.0 - q))
    assert abs(kept - n * q) <= 4.5 * sd, (kept, n, q)


def test_successive_training_calls_differ_and_seed_generator_is_used():
    x, f = _inputs(shape=(32, 1, 1, 4))
    layer = RoRAdd(
        represent_ratio=0.0, drop_rate=0.5, drop_mode="sample", seed=1
    )
    a = _np(layer([x, f], training=True))
    b = _np(layer([x, f], training=True))
    assert not np.array_equal(a, b)


def test_split_is_the_numpy_draw_and_seed_dependent():
    first = RoRAdd(represent_ratio=0.25, seed=11)
    second = RoRAdd(represent_ratio=0.25, seed=11)
    other = RoRAdd(represent_ratio=0.25, seed=12)
    for layer in (first, second, other):
        layer.build([(None, 8, 8, 64), (None, 8, 8, 64)])
    expected = represent_indices_ref(0.25, 11, 64)
    np.testing.assert_array_equal(first.represent_indices, expected)
    np.testing.assert_array_equal(second.represent_indices, expected)
    assert not np.array_equal(other.represent_indices, expected)
    mask = _np(first.refine_mask)
    assert mask.dtype == np.float32 and mask.shape == (64,)
    assert set(np.flatnonzero(mask == 0)) == set(expected)
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_represent_count_matches_spec_table():
    # docs/design.md#ror: ratio 0.05 gives 3/6/13 for C = 64/128/256.
    for channels, expected in [(64, 3), (128, 6), (256, 13)]:
        layer = RoRAdd(represent_ratio=0.05, seed=0)
        layer.build([(None, 2, 2, channels), (None, 2, 2, channels)])
        assert len(layer.represent_indices) == expected


def test_represent_count_is_rounded_ratio():
    cases = [(0.0, 16), (0.05, 16), (0.1, 30), (0.5, 7), (0.3, 10), (1.0, 12)]
    for ratio, channels in cases:
        layer = RoRAdd(represent_ratio=ratio, seed=4)
        layer.build([(None, 2, 2, channels), (None, 2, 2, channels)])
        rep = layer.represent_indices
        assert len(rep) == round(ratio * channels), (ratio, channels)
        assert len(set(rep.tolist())) == len(rep)
        assert np.all((rep >= 0) & (rep < channels))


@pytest.mark.parametrize("training", [False, True])
def test_ratio_zero_drop_zero_is_plain_sum(training):
    x, f = _inputs()
    layer = RoRAdd(represent_ratio=0.0, drop_rate=0.0, seed=0)
    y = _np(layer([x, f], training=training))
    np.testing.assert_array_equal(y, _np(keras.layers.Add()([x, f])))


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("drop_rate", [0.0, 0.5])
def test_ratio_one_is_plain_network(training, drop_rate):
    x, f = _inputs()
    layer = RoRAdd(represent_ratio=1.0, drop_rate=drop_rate, seed=0)
    y = _np(layer([x, f], training=training))
    np.testing.assert_array_equal(y, f)


def test_ratio_zero_is_stochastic_depth_at_inference():
    # All-Refine with p > 0 is SDepth: x + (1 - p) F at test time.
    x, f = _inputs()
    layer = RoRAdd(represent_ratio=0.0, drop_rate=0.2, seed=0)
    y = _np(layer([x, f]))
    np.testing.assert_allclose(y, x + 0.8 * f, rtol=1e-6, atol=1e-6)


def _model(seed, shape=SHAPE[1:], **kwargs):
    s = keras.Input(shape)
    r = keras.Input(shape)
    out = RoRAdd(represent_ratio=0.25, seed=seed, name="merge", **kwargs)(
        [s, r]
    )
    return keras.Model([s, r], out)


def test_weights_only_round_trip_restores_the_split(tmp_path):
    x, f = _inputs()
    model_a = _model(seed=1)
    model_b = _model(seed=2)
    split_a = model_a.get_layer("merge").represent_indices
    assert not np.array_equal(
        split_a, model_b.get_layer("merge").represent_indices
    )
    path = os.path.join(str(tmp_path), "ror.weights.h5")
    model_a.save_weights(path)
    model_b.load_weights(path)
    np.testing.assert_array_equal(
        model_b.get_layer("merge").represent_indices, split_a
    )
    np.testing.assert_array_equal(_np(model_b([x, f])), _np(model_a([x, f])))


def test_keras_reload_in_fresh_process(tmp_path):
    x, f = _inputs()
    assert_keras_reload_in_fresh_process(
        _model(seed=21, drop_mode="sample"), [x, f], tmp_path
    )


def test_config_round_trip_and_exact_keys():
    layer = RoRAdd(
        represent_ratio=0.1,
        drop_rate=0.3,
        drop_mode="sample",
        scale_at="train",
        seed=17,
        name="m",
    )
    clone = assert_config_round_trip(layer)
    for arg in (
        "represent_ratio",
        "drop_rate",
        "drop_mode",
        "scale_at",
        "seed",
    ):
        assert getattr(clone, arg) == getattr(layer, arg)
    own = set(layer.get_config()) - set(keras.layers.Layer().get_config())
    params = set(inspect.signature(RoRAdd.__init__).parameters) - {
        "self",
        "kwargs",
    }
    assert own == params
    # A clone built on the same shape draws the same split.
    for obj in (layer, clone):
        obj.build([(None, 2, 2, 40), (None, 2, 2, 40)])
    np.testing.assert_array_equal(
        clone.represent_indices, layer.represent_indices
    )


def test_seed_none_gives_int_in_config():
    layer = RoRAdd(seed=None)
    seed = layer.get_config()["seed"]
    assert isinstance(seed, int) and not isinstance(seed, bool)
    clone = RoRAdd.from_config(layer.get_config())
    for obj in (layer, clone):
        obj.build([(None, 2, 2, 64), (None, 2, 2, 64)])
    np.testing.assert_array_equal(
        clone.represent_indices, layer.represent_indices
    )


def test_compute_output_shape_and_symbolic_call():
    layer = RoRAdd(seed=0)
    shapes = [(None, 8, 8, 16), (2, 8, 8, 16)]
    assert layer.compute_output_shape(shapes) == (2, 8, 8, 16)
    out = RoRAdd(seed=0)([keras.Input((8, 8, 16)), keras.Input((8, 8, 16))])
    assert tuple(out.shape) == (None, 8, 8, 16)
    x, f = _inputs()
    assert _np(layer([x, f])).shape == layer.compute_output_shape(
        [x.shape, f.shape]
    )


def test_no_trainable_params_and_gradients_reach_the_residual_branch():
    inp = keras.Input(SHAPE[1:])
    residual = keras.layers.Conv2D(SHAPE[-1], 3, padding="same")(inp)
    out = RoRAdd(represent_ratio=0.25, seed=0)([inp, residual])
    model = keras.Model(inp, out)
    ror = model.layers[-1]
    assert count_trainable(ror) == 0
    # C non-trainable mask values.
    assert (
        sum(int(np.prod(w.shape)) for w in ror.non_trainable_weights)
        == SHAPE[-1]
    )
    x, _ = _inputs()
    assert_all_trainable_weights_get_gradients(model, x, training=False)
    # Represent channels keep their gradient even when the gate drops F.
    assert_all_trainable_weights_get_gradients(model, x, training=True)


@pytest.mark.parametrize("drop_mode", ["batch", "sample"])
def test_mixed_precision_finite(drop_mode):
    keras.config.set_dtype_policy("mixed_float16")
    layer = RoRAdd(represent_ratio=0.25, seed=0, drop_mode=drop_mode)
    model = _two_input_model(layer)
    assert layer.refine_mask.dtype == "float32"
    x, f = _inputs()
    inputs = [x * 1000.0, f * 1000.0]
    for training in (False, True):
        y = _np(model(inputs, training=training))
        assert y.dtype == np.float16
        assert np.all(np.isfinite(y))
        grads = input_gradients(model, inputs, training=training)
        assert all(np.all(np.isfinite(g)) for g in grads)


def test_input_gradients_match_the_reference_coefficients():
    # y = m*x + (1 - m*p)*F at inference, so dL/dx = m*P, dL/dF = (1-m*p)*P.
    p = 0.3
    layer = RoRAdd(represent_ratio=0.25, drop_rate=p, seed=8)
    model = _two_input_model(layer)
    x, f = _inputs()
    grad_x, grad_f = input_gradients(model, [x, f], training=False, seed=5)
    proj = np.random.default_rng(5).standard_normal(SHAPE)
    rep = represent_indices_ref(0.25, 8, SHAPE[-1])
    refine = np.ones(SHAPE[-1])
    refine[rep] = 0.0
    np.testing.assert_allclose(grad_x, refine * proj, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        grad_f, (1.0 - refine * p) * proj, rtol=1e-6, atol=1e-6
    )


def _two_input_model(layer, shape=SHAPE[1:]):
    s = keras.Input(shape)
    r = keras.Input(shape)
    return keras.Model([s, r], layer([s, r]))


BAD_ARGUMENTS = [
    ({"represent_ratio": -0.1}, "represent_ratio"),
    ({"represent_ratio": 1.5}, "represent_ratio"),
    ({"represent_ratio": "0.1"}, "represent_ratio"),
    ({"drop_rate": -0.2}, "drop_rate"),
    ({"drop_rate": 1.01}, "drop_rate"),
    ({"drop_rate": float("nan")}, "drop_rate"),
    ({"drop_rate": 1.0, "scale_at": "train"}, "drop_rate"),
    ({"drop_mode": "channel"}, "drop_mode"),
    ({"scale_at": "test"}, "scale_at"),
    ({"seed": 1.5}, "seed"),
    ({"seed": "7"}, "seed"),
    ({"seed": True}, "seed"),
    ({"seed": -1}, "seed"),
]


def test_bad_arguments():
    for kwargs, name in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=f"`{name}`.*Received: {name}="):
            RoRAdd(**kwargs)


def test_drop_rate_one_is_accepted_for_inference_scaling():
    x, f = _inputs()
    layer = RoRAdd(represent_ratio=0.25, drop_rate=1.0, seed=2)
    rep = represent_indices_ref(0.25, 2, SHAPE[-1])
    for training in (False, True):
        y = _np(layer([x, f], training=training))
        np.testing.assert_allclose(y, ror_add_ref(x, f, rep, 0.0), atol=1e-6)


def test_wrong_number_of_inputs():
    x, f = _inputs()
    for inputs in (x, [x], [x, f, f]):
        with pytest.raises(ValueError, match="`inputs`"):
            RoRAdd(seed=0)(inputs)


def test_shape_mismatch():
    x, _ = _inputs()
    for other_shape in [(3, 4, 4, 8), (3, 4, 2, 16), (3, 4, 16)]:
        f = np.zeros(other_shape, "float32")
        with pytest.raises(ValueError, match="same shape"):
            RoRAdd(seed=0)([x, f])
