"""Tests for `SeqConv2D` (sequentially aggregated convolution)."""

import inspect
import itertools
import re

import keras
import numpy as np
import pytest

from keras_resvariants.layers import SeqConv2D
from tests.reference.seq_conv2d_ref import seq_conv2d_param_count
from tests.reference.seq_conv2d_ref import seq_conv2d_ref
from tests.reference.seq_conv2d_ref import view_widths
from tests.testing import assert_all_trainable_weights_get_gradients
from tests.testing import assert_config_round_trip
from tests.testing import assert_keras_reload_in_fresh_process
from tests.testing import count_trainable
from tests.testing import to_numpy_list
from tests.testing import trainable_gradients

BATCH = 3
# Where the weights are overwritten with NumPy values anyway: "zeros" avoids
# compiling a random initializer per kernel shape on the JAX backend.
FAST_INIT = {"kernel_initializer": "zeros"}

# (c_in, layer kwargs): basic/bottleneck x dense/windowed, a window that
# is wider than the input for the first group, not a multiple of k and cuts
# through a previous group's output (with a 5x5 kernel), and one narrower
# than k (each later view lies inside the previous group's output).
CASES = [
    (8, dict(filters=12, group_width=4)),
    (6, dict(filters=12, group_width=4, window=None)),
    (4, dict(filters=12, group_width=4, window=6, kernel_size=5)),
    (5, dict(filters=12, group_width=4, window=3)),
    (8, dict(filters=12, group_width=4, bottleneck=True)),
    (
        6,
        dict(
            filters=16, group_width=4, bottleneck=True, subgroups=2, window=None
        ),
    ),
    (
        8,
        dict(
            filters=16, group_width=8, bottleneck=True, subgroups=4, window=12
        ),
    ),
]
CASE_IDS = [
    "basic-auto",
    "basic-dense",
    "basic-w6-k5",
    "basic-w3",
    "bneck-auto",
    "bneck-dense-c2",
    "bneck-w12-c4",
]


def _window(layer, c_in):
    return c_in if layer.window == "auto" else layer.window


def _randomise(layer, rng):
    """Random kernels and BN parameters/statistics (every term matters)."""
    for var in layer.weights:
        name = var.path.split("/")[-1]
        if name.endswith(("gamma", "moving_variance")):
            value = rng.uniform(0.5, 1.5, var.shape)
        else:  # kernels, beta, moving_mean
            value = rng.standard_normal(var.shape) * 0.3
        var.assign(value.astype("float32"))


def _unpack(layer, c_in):
    """Per-group kernels and BN tables in the layout documented in the
    class docstring: kernels stacked along the input axis, group by group,
    with `w_i = min(window, c_in + i k)` rows for the kernels that read the
    view."""
    values = {
        v.path.split("/")[-1]: keras.ops.convert_to_numpy(v)
        for v in layer.weights
    }
    k, g = layer.group_width, layer.filters // layer.group_width
    window = _window(layer, c_in)
    widths = view_widths(c_in, layer.filters, k, window)
    bounds = np.cumsum([0] + widths)

    def split_views(packed):
        assert packed.shape[2] == bounds[-1]
        return [packed[:, :, a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def bn(prefix):
        return {
            "gamma": values[prefix + "gamma"],
            "beta": values[prefix + "beta"],
            "mean": values[prefix + "moving_mean"],
            "var": values[prefix + "moving_variance"],
        }

    args = dict(
        group_width=k,
        window=window,
        bn=bn(""),
        epsilon=layer.epsilon,
        subgroups=layer.subgroups,
    )
    if layer.bottleneck:
        rows = k // layer.subgroups
        kernel = values["kernel"]
        assert kernel.shape[2] == g * rows
        args["kernels"] = [
            kernel[:, :, i * rows : (i + 1) * rows] for i in range(g)
        ]
        args["reduce_kernels"] = [
            r[0, 0] for r in split_views(values["reduce_kernel"])
        ]
        args["reduce_bn"] = bn("reduce_")
    else:
        args["kernels"] = split_views(values["kernel"])
    return args


def _reference(layer, x, shortcut=None, training=False, **kwargs):
    return seq_conv2d_ref(
        x,
        shortcut=shortcut,
        training=training,
        **_unpack(layer, x.shape[-1]),
        **kwargs,
    )


def _inputs(rng, c_in, filters, with_shortcut, hw=(8, 8), scale=1.0):
    x = rng.standard_normal((BATCH,) + hw + (c_in,)) * scale
    x = x.astype("float32")
    if not with_shortcut:
        return x, None
    shortcut = rng.standard_normal((BATCH,) + hw + (filters,)) * scale
    return x, shortcut.astype("float32")


def _call(layer, x, shortcut, training, loop=False):
    """`layer(...)`, or its per-group loop formulation (`loop=True`)."""
    if loop:
        outputs = layer._forward_loop(
            keras.ops.convert_to_tensor(x),
            None if shortcut is None else keras.ops.convert_to_tensor(shortcut),
            training,
        )
    else:
        inputs = x if shortcut is None else [x, shortcut]
        outputs = layer(inputs, training=training)
    return to_numpy_list(outputs)


def _built(c_in, kwargs, rng, with_shortcut=False, **extra):
    layer = SeqConv2D(**{**FAST_INIT, **kwargs, **extra})
    x, shortcut = _inputs(rng, c_in, kwargs["filters"], with_shortcut)
    layer(x if shortcut is None else [x, shortcut])
    _randomise(layer, rng)
    return layer, x, shortcut


# The cases run in a loop inside two tests rather than as 8 parametrised
# tests: the shared autouse fixture's `clear_session()` costs ~0.5 s per test
# (more on JAX).
@pytest.mark.parametrize("bottleneck", [False, True], ids=["basic", "bneck"])
def test_matches_numpy_reference_and_updates_moving_stats(bottleneck):
    """Fast path and per-group loop against the NumPy reference, with and
    without shortcut, in inference (moving statistics) and training (batch
    statistics; the moving statistics then follow Keras' update rule)."""
    rng = np.random.default_rng(0)
    for case, (c_in, kwargs) in zip(CASE_IDS, CASES):
        if kwargs.get("bottleneck", False) == bottleneck:
            _check_against_reference(case, c_in, kwargs, rng)


def _check_against_reference(case, c_in, kwargs, rng):
    layer, x, shortcut = _built(c_in, kwargs, rng, with_shortcut=True)
    initial = [keras.ops.convert_to_numpy(v) for v in layer.weights]
    before = _unpack(layer, c_in)
    m = layer.momentum
    tables = [("", "bn")] + (
        [("reduce_", "reduce_bn")] if layer.bottleneck else []
    )
    for sc, training, loop in itertools.product(
        (None, shortcut), (False, True), (False, True)
    ):
        where = f"{case}, shortcut={sc is not None}, training={training}, "
        where += f"loop={loop}"
        layer.set_weights(initial)
        expected = _reference(layer, x, sc, training=training)
        raw, act = _call(layer, x, sc, training=training, loop=loop)
        for name, got in (("raw", raw), ("act", act)):
            np.testing.assert_allclose(
                got,
                expected[name],
                rtol=1e-4,
                atol=1e-4,
                err_msg=f"{name}: {where}",
            )
        after = _unpack(layer, c_in)
        for prefix, table in tables:
            for stat in ("mean", "var"):
                old, got = before[table][stat], after[table][stat]
                if not training:
                    np.testing.assert_array_equal(got, old, err_msg=where)
                    continue
                want = old * m + expected[prefix + stat] * (1 - m)
                np.testing.assert_allclose(
                    got, want, rtol=1e-5, atol=1e-5, err_msg=where
                )
                assert not np.allclose(got, old), where


def test_bn_is_keras_batch_normalization_per_channel():
    """Per-channel BN of each group == one keras BatchNormalization over
    `raw`: same outputs in training and inference, same moving update."""
    rng = np.random.default_rng(2)
    layer, x, shortcut = _built(8, dict(filters=12, group_width=4), rng, True)
    bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    bn.build((None, 8, 8, 12))
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        getattr(bn, name).assign(getattr(layer, name))
    for training in (True, False, True):
        raw, act = _call(layer, x, shortcut, training=training)
        expected = keras.ops.convert_to_numpy(
            keras.ops.relu(bn(raw, training=training))
        )
        np.testing.assert_allclose(act, expected, rtol=1e-5, atol=1e-5)
        for name in ("moving_mean", "moving_variance"):
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(getattr(layer, name)),
                keras.ops.convert_to_numpy(getattr(bn, name)),
                rtol=1e-6,
                atol=1e-6,
            )


def test_inference_uses_moving_statistics_after_training():
    rng = np.random.default_rng(3)
    layer, x, _ = _built(8, dict(filters=12, group_width=4), rng)
    layer.moving_mean.assign(np.zeros(12, "float32"))
    layer.moving_variance.assign(np.ones(12, "float32"))
    _, act_train = _call(layer, x, None, training=True)
    # Moving statistics moved towards the batch statistics ...
    assert not np.allclose(keras.ops.convert_to_numpy(layer.moving_mean), 0)
    _, act_infer = _call(layer, x, None, training=False)
    # ... and inference uses them (the reference reads them from the layer),
    # which differs from batch normalisation.
    expected = _reference(layer, x)["act"]
    np.testing.assert_allclose(act_infer, expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(act_infer, act_train, atol=1e-2)
    # A frozen layer normalises with its moving statistics even in training
    # and leaves them alone, as keras.layers.BatchNormalization does.
    layer.trainable = False
    moving = keras.ops.convert_to_numpy(layer.moving_mean)
    _, act_frozen = _call(layer, x, None, training=True)
    np.testing.assert_array_equal(act_frozen, act_infer)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.moving_mean), moving
    )


def test_window_covering_everything_equals_dense():
    rng = np.random.default_rng(4)
    c_in, filters, k = 6, 12, 4
    for bottleneck, window in itertools.product(
        (False, True), (c_in + filters - k, 100)
    ):
        kwargs = dict(filters=filters, group_width=k, bottleneck=bottleneck)
        dense, x, shortcut = _built(c_in, dict(kwargs, window=None), rng, True)
        weights = dense.get_weights()
        windowed = SeqConv2D(window=window, **FAST_INIT, **kwargs)
        windowed([x, shortcut])
        # Both store group i's kernel with w_i = c_in + i k rows (the whole
        # stream so far), so the packed layouts coincide weight by weight.
        assert [(w.path.split("/")[-1], w.shape) for w in windowed.weights] == [
            (w.path.split("/")[-1], w.shape) for w in dense.weights
        ]
        for training in (False, True):
            dense.set_weights(weights)
            windowed.set_weights(weights)
            got = _call(windowed, x, shortcut, training)
            want = _call(dense, x, shortcut, training)
            for a, b in zip(
                got + windowed.get_weights(), want + dense.get_weights()
            ):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


PARAM_CASES = [
    # (c_in, filters, k, window, bottleneck, subgroups)
    (16, 32, 8, "auto", False, 1),
    (16, 32, 8, None, False, 1),
    (16, 32, 4, 8, False, 1),
    (16, 32, 8, "auto", True, 1),
    (16, 32, 8, None, True, 1),
    (16, 32, 8, "auto", True, 2),
    (16, 32, 8, None, True, 2),
    (24, 16, 4, 12, True, 2),
]


def test_trainable_parameter_counts_match_spec_formulas():
    for c_in, filters, k, window, bottleneck, subgroups in PARAM_CASES:
        layer = SeqConv2D(
            filters,
            k,
            window=window,
            bottleneck=bottleneck,
            subgroups=subgroups,
            **FAST_INIT,
        )
        layer.build((None, 8, 8, c_in))
        expected = seq_conv2d_param_count(
            c_in,
            filters,
            k,
            c_in if window == "auto" else window,
            bottleneck=bottleneck,
            subgroups=subgroups,
        )
        assert count_trainable(layer) == expected, (c_in, filters, k, window)
    # The paper's claim: a windowed basic layer costs what a plain 3x3 conv
    # C_in -> F plus its BN costs.
    layer = SeqConv2D(32, 8, **FAST_INIT)
    layer.build((None, 8, 8, 16))
    conv = keras.layers.Conv2D(32, 3, use_bias=False)
    conv.build((None, 8, 8, 16))
    assert count_trainable(layer) == count_trainable(conv) + 2 * 32


def test_zero_init_with_shortcut_gives_raw_equal_to_shortcut():
    rng = np.random.default_rng(5)
    for bottleneck in (False, True):
        layer = SeqConv2D(12, 4, bottleneck=bottleneck, zero_init=True, seed=1)
        x, shortcut = _inputs(rng, 8, 12, True)
        for training in (False, True):
            raw, _ = _call(layer, x, shortcut, training)
            np.testing.assert_array_equal(raw, shortcut)
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        assert np.all(kernel == 0)
        if bottleneck:  # only the spatial kernel is zeroed, not the 1x1
            reduce_kernel = keras.ops.convert_to_numpy(layer.reduce_kernel)
            assert np.all(reduce_kernel != 0)


def test_default_initializer_is_per_group_fan_out_uniform_and_seeded():
    c_in, filters, k = 16, 16, 8
    layers = [SeqConv2D(filters, k, seed=s) for s in (7, 7, 8)]
    for layer in layers:
        layer.build((None, 8, 8, c_in))
    kernels = [keras.ops.convert_to_numpy(la.kernel) for la in layers]
    np.testing.assert_array_equal(kernels[0], kernels[1])
    # VarianceScaling(2, "fan_out", "uniform") with the fan_out of ONE
    # group's conv (kh * kw * k): bound sqrt(6 / (9 k)).
    bound = np.sqrt(6.0 / (9 * k))
    assert np.abs(kernels[0]).max() <= bound
    assert np.abs(kernels[0]).max() > 0.95 * bound
    # Every group of every seed is drawn independently: no two group
    # kernels share values, also not across layers with seeds 7 and 8.
    groups = [
        kernel[:, :, i * c_in : (i + 1) * c_in]
        for kernel in (kernels[0], kernels[2])
        for i in range(filters // k)
    ]
    for i, first in enumerate(groups):
        for second in groups[i + 1 :]:
            assert not np.any(first == second)


def _identity_dropout_layer(rate):
    """1x1 basic layer with C_in = W = k and identity kernels: group 1's
    raw output is its dropped view of x, group i's that of a_{i-1}."""
    k, g = 8, 4
    layer = SeqConv2D(
        g * k, k, window=k, kernel_size=1, dropout=rate, seed=3, **FAST_INIT
    )
    layer.build((None, 8, 8, k))
    layer.kernel.assign(np.tile(np.eye(k, dtype="float32"), (g, 1))[None, None])
    # A large BN offset keeps every a_i > 0, so each view's channels are
    # visible through the next group's output.
    layer.beta.assign(np.full((g * k,), 10.0, "float32"))
    return layer, k, g


def test_training_dropout_drops_whole_channels_per_group():
    rate = 0.5
    layer, k, g = _identity_dropout_layer(rate)
    rng = np.random.default_rng(6)
    x = rng.uniform(0.5, 1.5, (4, 8, 8, k)).astype("float32")
    raw, act = _call(layer, x, None, training=True)
    views = [x] + [act[..., i * k : (i + 1) * k] for i in range(g - 1)]
    masks = []
    for i, view in enumerate(views):
        z = raw[..., i * k : (i + 1) * k]
        # z = view * m with one m in {0, 1/(1-rate)} per (sample, channel).
        seen = np.all(view > 0, axis=(1, 2))
        assert np.all(seen)
        mask = np.zeros(seen.shape)
        for n, c in zip(*np.nonzero(seen)):
            v, zz = view[n, ..., c], z[n, ..., c]
            scale = 0.0 if np.all(zz == 0) else 1.0 / (1.0 - rate)
            np.testing.assert_allclose(zz, v * scale, rtol=1e-6, atol=1e-6)
            mask[n, c] = scale
        kept = mask[seen] > 0
        assert 0 < kept.sum() < kept.size, f"group {i}: no channel dropped"
        masks.append(np.where(seen, mask, -1))
    # Each group draws its own mask.
    assert len({m.tobytes() for m in masks}) == g
    # A second training call draws new masks.
    raw_again, _ = _call(layer, x, None, training=True)
    assert not np.array_equal(raw[..., :k], raw_again[..., :k])


def test_dropout_is_identity_at_inference():
    rng = np.random.default_rng(7)
    x, _ = _inputs(rng, 8, 12, False)
    plain = SeqConv2D(12, 4, **FAST_INIT)
    dropped = SeqConv2D(12, 4, dropout=0.3, **FAST_INIT)
    plain(x)
    dropped(x)
    _randomise(plain, rng)
    dropped.set_weights(plain.get_weights())
    for a, b in zip(
        _call(plain, x, None, False), _call(dropped, x, None, False)
    ):
        np.testing.assert_array_equal(a, b)
    # In training it does change the outputs.
    assert not np.allclose(
        _call(plain, x, None, True)[1], _call(dropped, x, None, True)[1]
    )


# Grouped formulation vs the per-group loop (the "dense" reference):
# (c_in, layer arguments, data format). Small shapes: on a CPU every
# backend compiles and runs grouped convolutions slowly.
# Three of the five are `slow` (grouped convolutions compile for seconds
# on JAX's CPU backend): run them with `-m slow`.
GROUPED_CASES = [
    (8, dict(filters=12, group_width=4), "channels_last"),
    pytest.param(6, dict(filters=12, group_width=4, window=None),
                 "channels_last", marks=pytest.mark.slow),
    pytest.param(4, dict(filters=12, group_width=4, window=5),
                 "channels_first", marks=pytest.mark.slow),
    pytest.param(6, dict(filters=16, group_width=4, bottleneck=True,
                         subgroups=2, window=None), "channels_last",
                 marks=pytest.mark.slow),
    (8, dict(filters=16, group_width=8, bottleneck=True, subgroups=4,
             window=12), "channels_first"),
]


def _pair(c_in, kwargs, data_format, rng, dropout):
    """Two equal layers (same weights, same dropout seed), one per
    implementation, inside single-layer models with a shortcut input."""
    shape = (8, 7, c_in) if data_format == "channels_last" else (c_in, 8, 7)
    s_shape = shape[:2] + (kwargs["filters"],) if (
        data_format == "channels_last") else (kwargs["filters"],) + shape[1:]
    models = {}
    for implementation in ("grouped", "dense"):
        layer = SeqConv2D(**kwargs, dropout=dropout, seed=4,
                          data_format=data_format, **FAST_INIT)
        layer.implementation = implementation
        x_in, s_in = keras.Input(shape), keras.Input(s_shape)
        models[implementation] = keras.Model([x_in, s_in],
                                             layer([x_in, s_in]))
    weights = None
    for model in models.values():
        layer = model.layers[-1]
        if weights is None:
            _randomise(layer, rng)
            weights = layer.get_weights()
        layer.set_weights(weights)
    x = rng.standard_normal((BATCH,) + shape).astype("float32")
    shortcut = rng.standard_normal((BATCH,) + s_shape).astype("float32")
    return models["grouped"], models["dense"], [x, shortcut]


@pytest.mark.parametrize("c_in, kwargs, data_format", GROUPED_CASES)
def test_grouped_formulation_equals_the_loop(c_in, kwargs, data_format):
    """Outputs and weight gradients of the grouped formulation (masked
    copies, grouped subgroup convolutions) equal the per-group loop's,
    with dropout (the same masks) in training and without it in
    inference; the moving statistics follow the same updates."""
    rng = np.random.default_rng(11)
    grouped, dense, inputs = _pair(c_in, kwargs, data_format, rng, 0.3)
    plain = None
    for training in (True, False):
        a = to_numpy_list(grouped(inputs, training=training))
        b = to_numpy_list(dense(inputs, training=training))
        for got, want in zip(a, b):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        if training:
            plain = a
    # The masks do act: without dropout the training outputs differ.
    without, _, _ = _pair(c_in, kwargs, data_format,
                          np.random.default_rng(11), 0.0)
    assert not np.allclose(
        to_numpy_list(without(inputs, training=True))[0], plain[0])
    for g, d in zip(grouped.layers[-1].non_trainable_weights,
                    dense.layers[-1].non_trainable_weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(g),
                                   keras.ops.convert_to_numpy(d),
                                   rtol=1e-5, atol=1e-6)
    for training in (True, False):
        ga = trainable_gradients(grouped, inputs, training=training)
        gb = trainable_gradients(dense, inputs, training=training)
        assert len(ga) == len(gb) == 3 + 3 * kwargs.get("bottleneck", 0)
        for got, want in zip(ga, gb):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_auto_is_grouped_only_on_an_accelerator(monkeypatch):
    from keras_resvariants.layers import implementation

    layer = SeqConv2D(8, 4)
    monkeypatch.setattr(implementation, "on_accelerator", lambda: False)
    assert not layer._grouped()
    monkeypatch.setattr(implementation, "on_accelerator", lambda: True)
    assert layer._grouped()
    layer.implementation = "dense"
    assert not layer._grouped()
    with implementation.implementation_scope("SeqConv2D", "grouped"):
        layer.implementation = None
        assert layer._grouped()
    assert "implementation" not in layer.get_config()


def _model(rng):
    """A dense basic head feeding a windowed grouped bottleneck layer that
    takes the head's raw stream as its shortcut (two small layers: on JAX
    every new op shape costs a compilation)."""
    x_in = keras.Input((8, 8, 4))
    raw, act = SeqConv2D(8, 4, window=None, **FAST_INIT)(x_in)
    out = SeqConv2D(8, 4, bottleneck=True, subgroups=2, **FAST_INIT)([act, raw])
    model = keras.Model(x_in, out)
    for layer in model.layers[1:]:
        _randomise(layer, rng)
    return model


def test_every_trainable_weight_gets_a_gradient():
    rng = np.random.default_rng(8)
    x, _ = _inputs(rng, 4, 8, False)
    model = _model(rng)
    for training in (True, False):  # batch / moving statistics
        assert_all_trainable_weights_get_gradients(model, x, training=training)
    # The per-group loop (training with dropout) on every weight kind; the
    # shapes of the model's second layer, to share JAX compilations.
    layer = SeqConv2D(
        8, 4, bottleneck=True, subgroups=2, dropout=0.2, seed=1, **FAST_INIT
    )
    x_in, s_in = keras.Input((8, 8, 8)), keras.Input((8, 8, 8))
    dropped = keras.Model([x_in, s_in], layer([x_in, s_in]))
    _randomise(layer, rng)
    x, shortcut = _inputs(rng, 8, 8, True)
    assert_all_trainable_weights_get_gradients(
        dropped, [x, shortcut], training=True
    )


def test_config_round_trip_and_keys_are_constructor_arguments():
    layer = SeqConv2D(
        16,
        4,
        window=8,
        bottleneck=True,
        subgroups=2,
        kernel_size=(5, 5),
        dropout=0.1,
        zero_init=True,
        return_raw=False,
        momentum=0.8,
        epsilon=1e-3,
        kernel_initializer="he_uniform",
        seed=5,
        name="sc",
    )
    clone = assert_config_round_trip(layer)
    assert clone.kernel_size == 5 and clone.window == 8
    for window in ("auto", None):
        assert_config_round_trip(SeqConv2D(16, 4, window=window))
    own = set(layer.get_config()) - set(
        keras.layers.Layer(name="x").get_config()
    )
    params = set(inspect.signature(SeqConv2D.__init__).parameters)
    assert own == params - {"self", "kwargs"}


def test_keras_reload_in_fresh_process_is_bit_exact(tmp_path):
    rng = np.random.default_rng(9)
    model = _model(rng)
    x, _ = _inputs(rng, 4, 8, False)
    assert_keras_reload_in_fresh_process(model, x, tmp_path)


def test_mixed_float16_outputs_and_gradients_are_finite():
    keras.config.set_dtype_policy("mixed_float16")
    rng = np.random.default_rng(10)
    model = _model(rng)
    x, _ = _inputs(rng, 4, 8, False, scale=1000.0)
    for layer in model.layers[1:]:
        assert all(v.dtype == "float32" for v in layer.weights)
    for training in (True, False):
        for out in to_numpy_list(model(x, training=training)):
            assert out.dtype == np.float16
            assert np.all(np.isfinite(out)) and np.any(out != 0)
    # Gradients in training (batch statistics), the mixed-precision use. The
    # first layer's kernel gradient passes through the second layer's input
    # gradient, so input gradients are covered too.
    grads = trainable_gradients(model, x, training=True)
    for var, grad in zip(model.trainable_variables, grads):
        assert grad is not None and np.all(np.isfinite(grad)), var.path
        assert np.any(grad != 0), var.path


def test_output_shapes_symbolic_and_dynamic():
    rng = np.random.default_rng(11)
    layer = SeqConv2D(8, 4, window=None, **FAST_INIT)
    x_in, s_in = keras.Input((None, None, 6)), keras.Input((None, None, 8))
    outputs = layer([x_in, s_in])
    assert [tuple(t.shape) for t in outputs] == [(None, None, None, 8)] * 2
    model = keras.Model([x_in, s_in], outputs)
    _randomise(layer, rng)
    x, shortcut = _inputs(rng, 6, 8, True, hw=(5, 7))
    assert (
        layer.compute_output_shape([x.shape, shortcut.shape])
        == [(BATCH, 5, 7, 8)] * 2
    )
    got = to_numpy_list(model([x, shortcut], training=False))
    want = _reference(layer, x, shortcut)
    np.testing.assert_allclose(got[0], want["raw"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got[1], want["act"], rtol=1e-4, atol=1e-4)
    single = SeqConv2D(8, 4, return_raw=False, **FAST_INIT)
    assert tuple(single(keras.Input((8, 8, 6))).shape) == (None, 8, 8, 8)
    assert single.compute_output_shape((2, 8, 8, 6)) == (2, 8, 8, 8)


# Error cases are looped inside one test: the autouse fixture's
# `clear_session()` costs ~0.4 s per test.
BAD_CONSTRUCTOR_ARGUMENTS = [
    ({"filters": 10}, "filters", 10),
    ({"filters": 0}, "filters", 0),
    ({"group_width": 0}, "group_width", 0),
    ({"group_width": -4}, "group_width", -4),
    ({"group_width": 2.0}, "group_width", 2.0),
    ({"bottleneck": True, "subgroups": 3}, "subgroups", 3),
    ({"bottleneck": True, "subgroups": 0}, "subgroups", 0),
    ({"subgroups": 2}, "subgroups", 2),
    ({"dropout": 1.0}, "dropout", 1.0),
    ({"dropout": -0.1}, "dropout", -0.1),
    ({"window": 0}, "window", 0),
    ({"window": -8}, "window", -8),
    ({"window": 2.5}, "window", 2.5),
    ({"window": "full"}, "window", "full"),
    ({"window": True}, "window", True),
    ({"kernel_size": 2}, "kernel_size", 2),
    ({"kernel_size": (3, 5)}, "kernel_size", (3, 5)),
    ({"bottleneck": "yes"}, "bottleneck", "yes"),
    ({"zero_init": None}, "zero_init", None),
    ({"return_raw": "no"}, "return_raw", "no"),
    ({"momentum": 1.5}, "momentum", 1.5),
    ({"epsilon": 0.0}, "epsilon", 0.0),
    ({"kernel_initializer": "nope"}, "kernel_initializer", "nope"),
    # A plain callable would not survive get_config / from_config.
    ({"kernel_initializer": np.zeros}, "kernel_initializer", np.zeros),
    ({"seed": 1.5}, "seed", 1.5),
    ({"seed": -1}, "seed", -1),
]


def test_bad_constructor_arguments_raise():
    for kwargs, argument, value in BAD_CONSTRUCTOR_ARGUMENTS:
        arguments = {"filters": 16, "group_width": 4, **kwargs}
        with pytest.raises(
            ValueError, match=re.escape(f"{argument}={value!r}")
        ):
            SeqConv2D(**arguments)


BAD_INPUTS = [
    ([(2, 8, 8, 4)] * 3, "inputs"),
    ([], "inputs"),
    ([(2, 8, 8, 4), (2, 8, 8, 12)], "shortcut"),  # channels != filters
    ([(2, 8, 8, 4), (2, 4, 4, 8)], "shortcut"),  # spatial mismatch
    ([(2, 8, 8, 4), (3, 8, 8, 8)], "shortcut"),  # batch mismatch
    ([(2, 8, 4)], "inputs"),  # not 4D
]


def test_bad_inputs_raise():
    for shapes, argument in BAD_INPUTS:
        layer = SeqConv2D(8, 4, **FAST_INIT)
        arrays = [np.zeros(s, "float32") for s in shapes]
        with pytest.raises(ValueError, match=re.escape(argument)):
            layer(arrays[0] if len(arrays) == 1 else arrays)
    # A built layer checks later calls too.
    layer = SeqConv2D(8, 4, **FAST_INIT)
    layer(np.zeros((2, 8, 8, 4), "float32"))
    with pytest.raises(ValueError, match="shortcut"):
        layer(
            [
                np.zeros((2, 8, 8, 4), "float32"),
                np.zeros((2, 8, 8, 6), "float32"),
            ]
        )
