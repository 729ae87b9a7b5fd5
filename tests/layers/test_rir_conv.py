"""Tests for `RiRConv` and `RiRIdentityInit` (ResNet in ResNet)."""

import inspect
import json
import re

import keras
import numpy as np
import pytest
from reference import rir_conv_ref as ref
from testing import assert_all_trainable_weights_get_gradients
from testing import assert_config_round_trip
from testing import assert_keras_reload_in_fresh_process
from testing import count_trainable
from testing import to_numpy_list
from testing import trainable_gradients

from keras_resvariants.layers import RiRConv
from keras_resvariants.layers import RiRIdentityInit
from keras_resvariants.layers import StreamSplit

BATCH = 2
# Weights are overwritten with NumPy values wherever the initializer does not
# matter; "zeros" avoids compiling a random initializer per kernel shape,
# which costs seconds per shape on the JAX backend.
FAST_INIT = {"kernel_initializer": "zeros"}


def _inputs(rng, c_r, c_m, hw=(8, 8), scale=1.0):
    shape = (BATCH,) + tuple(hw)
    r = rng.standard_normal(shape + (c_r,)).astype("float32") * scale
    m = rng.standard_normal(shape + (c_m,)).astype("float32") * scale
    return r, m


def _randomise(layer, rng):
    """Random kernel, projection, bias and BN parameters/statistics, so that
    every term of the reference matters in both modes."""
    for var in layer.weights:
        name = var.path.split("/")[-1]
        if name in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, var.shape)
        else:
            value = rng.standard_normal(var.shape) * 0.3
        var.assign(value.astype("float32"))


def _weights(layer):
    return {
        v.path.split("/")[-1]: keras.ops.convert_to_numpy(v)
        for v in layer.weights
    }


def _reference(layer, r, m, training, **kwargs):
    """The layer's weights, split into the four stream-pair kernels, through
    the stream-by-stream NumPy reference."""
    w = _weights(layer)
    c_r, f_r = r.shape[-1], layer.filters_r
    kernel = w["kernel"]
    projection = w.get("shortcut_kernel")
    return ref.rir_conv(
        r,
        m,
        w_rr=kernel[:, :, :c_r, :f_r],
        w_mr=kernel[:, :, c_r:, :f_r],
        w_rm=kernel[:, :, :c_r, f_r:],
        w_mm=kernel[:, :, c_r:, f_r:],
        stride=layer.strides,
        shortcut=layer.shortcut,
        projection=None if projection is None else projection[0, 0],
        bias=w.get("bias"),
        gamma=w["gamma"],
        beta=w["beta"],
        moving_mean=w["moving_mean"],
        moving_variance=w["moving_variance"],
        epsilon=layer.epsilon,
        training=training,
        activation=layer.activation,
        **kwargs,
    )


# (C_r, C_m, F_r, F_m, kernel_size, strides, shortcut, use_bias, (H, W))
REFERENCE_CASES = [
    (4, 3, 4, 3, 3, 1, "identity", False, (8, 8)),
    (3, 4, 5, 4, 3, 1, "identity", False, (8, 8)),  # widening
    (4, 3, 4, 3, 3, 2, "identity", False, (8, 8)),
    (3, 4, 6, 2, 3, 2, "identity", True, (7, 8)),  # widening, odd H
    (3, 2, 4, 3, 5, 2, "identity", False, (8, 8)),  # k=5
    (4, 3, 4, 3, 3, 1, "projection", False, (8, 8)),
    (3, 4, 6, 5, 3, 2, "projection", False, (8, 8)),  # widening
    (5, 2, 3, 4, 3, 2, "projection", False, (7, 8)),  # narrowing
    (3, 2, 4, 3, 1, 2, "projection", False, (8, 8)),  # k=1
    (4, 3, 4, 3, 3, 1, None, False, (8, 8)),
    (3, 4, 6, 5, 3, 2, None, True, (8, 8)),
]
# The same layers returning their pre-activations (`activation=None`).
PREACTIVATION_CASES = [REFERENCE_CASES[i] for i in (0, 3, 6, 10)]


@pytest.mark.parametrize(
    "case, activation",
    [(c, "relu") for c in REFERENCE_CASES]
    + [(c, None) for c in PREACTIVATION_CASES],
)
def test_matches_numpy_reference(case, activation):
    c_r, c_m, f_r, f_m, k, strides, shortcut, use_bias, hw = case
    rng = np.random.default_rng(0)
    layer = RiRConv(
        f_r,
        f_m,
        kernel_size=k,
        strides=strides,
        shortcut=shortcut,
        use_bias=use_bias,
        activation=activation,
        **FAST_INIT,
    )
    r, m = _inputs(rng, c_r, c_m, hw)
    layer.build([r.shape, m.shape])
    _randomise(layer, rng)
    # Inference (moving statistics) first: the training call updates them.
    for training in (False, True):
        outputs = to_numpy_list(layer([r, m], training=training))
        expected = _reference(layer, r, m, training)
        assert len(outputs) == 2
        for out, exp in zip(outputs, expected):
            assert out.shape == exp.shape
            np.testing.assert_allclose(out, exp, rtol=1e-4, atol=1e-4)
        if activation is None:
            # Pre-activations: negative values are kept.
            assert all(np.any(out < 0) for out in outputs)


# Joined streams (`residual_channels`): (case index, outer_streams or
# None for no second input).
JOINED_CASES = [(0, None), (2, None), (3, None), (6, None), (7, None),
                (10, None), (0, "both"), (0, "residual"), (5, "residual"),
                (9, "both")]


@pytest.mark.parametrize("index, outer_streams", JOINED_CASES)
def test_joined_streams_match_numpy_reference(index, outer_streams):
    """One tensor `concat(r, m)` in and out, and the outer shortcut added
    inside the ReLU, against the stream-by-stream reference."""
    c_r, c_m, f_r, f_m, k, strides, shortcut, use_bias, hw = (
        REFERENCE_CASES[index])
    rng = np.random.default_rng(1)
    layer = RiRConv(f_r, f_m, kernel_size=k, strides=strides,
                    shortcut=shortcut, use_bias=use_bias,
                    residual_channels=c_r,
                    outer_streams=outer_streams or "both", **FAST_INIT)
    r, m = _inputs(rng, c_r, c_m, hw)
    x = np.concatenate([r, m], -1)
    out_shape = layer.compute_output_shape(x.shape)
    assert out_shape[-1] == f_r + f_m
    outer = rng.standard_normal(out_shape).astype("float32")
    inputs = x if outer_streams is None else [x, outer]
    layer.build(x.shape)
    _randomise(layer, rng)
    adds = {}
    if outer_streams == "both":
        adds = {"residual_add": outer[..., :f_r],
                "transient_add": outer[..., f_r:]}
    elif outer_streams == "residual":
        adds = {"residual_add": outer[..., :f_r]}  # the rest is ignored
    for training in (False, True):
        out = keras.ops.convert_to_numpy(layer(inputs, training=training))
        expected = np.concatenate(
            _reference(layer, r, m, training, **adds), -1)
        assert out.shape == expected.shape == out_shape
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shortcut", ["identity", "projection", None])
def test_joined_streams_equal_two_tensor_call_with_gradients(shortcut):
    """The same weights give the same outputs and weight gradients whether
    the streams are joined or two tensors (training and inference)."""
    rng = np.random.default_rng(2)
    r, m = _inputs(rng, 3, 4, (7, 8))
    r_in, m_in = keras.Input(r.shape[1:]), keras.Input(m.shape[1:])
    joined_in = keras.layers.Concatenate()([r_in, m_in])
    split = RiRConv(5, 6, strides=2, shortcut=shortcut, **FAST_INIT)
    joined = RiRConv(5, 6, strides=2, shortcut=shortcut,
                     residual_channels=3, **FAST_INIT)
    models = [
        keras.Model([r_in, m_in],
                    keras.layers.Concatenate()(split([r_in, m_in]))),
        keras.Model([r_in, m_in], joined(joined_in)),
    ]
    _randomise(split, rng)
    joined.set_weights(split.get_weights())
    for training in (False, True):
        a, b = (keras.ops.convert_to_numpy(model([r, m], training=training))
                for model in models)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        grads = [trainable_gradients(model, [r, m], training=training)
                 for model in models]
        assert len(grads[0]) == len(grads[1]) == len(split.trainable_weights)
        for g_split, g_joined in zip(*grads):
            np.testing.assert_allclose(g_joined, g_split, rtol=1e-5,
                                       atol=1e-5)


@pytest.mark.parametrize(
    # Every kernel is (3, 3, 7, 8): on JAX a random initializer compiles once
    # per shape, for seconds. Cases 2 and 4 widen the residual stream.
    "c_r, f_r, strides, hw",
    [
        (4, 4, 1, (8, 8)),
        (3, 5, 1, (8, 8)),
        (4, 4, 2, (8, 8)),
        (3, 5, 2, (7, 8)),
    ],
)
def test_resnet_init_equals_identity_shortcut_at_init(c_r, f_r, strides, hw):
    rng = np.random.default_rng(1)
    r, m = _inputs(rng, c_r, 7 - c_r, hw)
    shapes = [r.shape, m.shape]
    common = dict(filters_r=f_r, filters_m=8 - f_r, strides=strides, seed=11)
    init_layer = RiRConv(resnet_init=True, shortcut=None, **common)
    shortcut_layer = RiRConv(resnet_init=False, shortcut="identity", **common)
    init_layer.build(shapes)
    shortcut_layer.build(shapes)
    # Same BN parameters/statistics in both, non-trivial for inference.
    bn_rng = np.random.default_rng(2)
    for a, b in zip(init_layer.norm.weights, shortcut_layer.norm.weights):
        value = bn_rng.uniform(0.5, 1.5, a.shape).astype("float32")
        a.assign(value)
        b.assign(value)

    # The seed travels in the config and reproduces the initial kernel.
    clone = RiRConv.from_config(shortcut_layer.get_config())
    clone.build(shapes)
    base = keras.ops.convert_to_numpy(shortcut_layer.kernel)
    clone_kernel = keras.ops.convert_to_numpy(clone.kernel)
    np.testing.assert_array_equal(clone_kernel, base)
    # Same base kernel; ResNet Init adds the centre-tap identity to it.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(init_layer.kernel),
        base + ref.centre_identity(base.shape, min(c_r, f_r)),
        rtol=0,
        atol=1e-6,
    )
    for training in (False, True):
        got = to_numpy_list(init_layer([r, m], training=training))
        want = to_numpy_list(shortcut_layer([r, m], training=training))
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        # ...and both equal the explicit-shortcut reference.
        expected = _reference(shortcut_layer, r, m, training)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "base, channels_r, filters_r, shape",
    # The random kernel shape of the test above (one JAX compile).
    [
        (keras.initializers.HeNormal(seed=7), 3, 5, (3, 3, 7, 8)),
        (keras.initializers.HeNormal(seed=7), 5, 3, (3, 3, 7, 8)),
        (keras.initializers.Constant(0.25), 2, 2, (5, 5, 2, 3)),
    ],
)
def test_identity_init_serializes_and_adds_identity(
    base, channels_r, filters_r, shape
):
    assert (
        keras.saving.get_registered_name(RiRIdentityInit)
        == "keras_resvariants>RiRIdentityInit"
    )
    init = RiRIdentityInit(base, channels_r=channels_r, filters_r=filters_r)
    text = json.dumps(keras.initializers.serialize(init))
    restored = keras.initializers.deserialize(json.loads(text))
    assert isinstance(restored, RiRIdentityInit)
    assert type(restored.base) is type(base)
    assert json.dumps(restored.get_config(), sort_keys=True) == json.dumps(
        init.get_config(), sort_keys=True
    )

    # A fresh copy of the base initializer gives the base values.
    fresh_base = base.__class__.from_config(base.get_config())
    base_values = keras.ops.convert_to_numpy(fresh_base(shape))
    expected = base_values + ref.centre_identity(
        shape, min(channels_r, filters_r)
    )
    for initializer in (init, restored):
        value = keras.ops.convert_to_numpy(initializer(shape))
        assert value.dtype == np.float32
        np.testing.assert_allclose(value, expected, rtol=0, atol=1e-6)


def test_seeds_of_kernel_and_projection():
    def he(seed):
        return keras.initializers.VarianceScaling(
            2.0, "fan_in", "truncated_normal", seed=seed
        )

    def init_values(layer_seed, initializer):
        layer = RiRConv(
            4,
            4,
            shortcut="projection",
            kernel_initializer=initializer,
            seed=layer_seed,
        )
        layer.build([(BATCH, 8, 8, 4), (BATCH, 8, 8, 3)])
        return [
            keras.ops.convert_to_numpy(w)
            for w in (layer.kernel, layer.shortcut_kernel)
        ]

    def expected(seed):
        projection_seed = int(
            np.random.SeedSequence([seed, 1]).generate_state(1)[0] % 2**31
        )
        return [he(seed)((3, 3, 7, 8)), he(projection_seed)((1, 1, 4, 4))]

    # The layer's seed wins; without it the initializer's own seed is kept;
    # either way the projection kernel is drawn with a seed mixed from it.
    for layer_seed, init_seed, used in [(11, 5, 11), (None, 5, 5)]:
        got = init_values(layer_seed, he(init_seed))
        for a, b in zip(got, expected(used)):
            np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))
        # Not `seed + 1`: that is the next layer's seed in our builders.
        next_layer = keras.ops.convert_to_numpy(he(used + 1)((1, 1, 4, 4)))
        assert not np.allclose(got[1], next_layer)


def _param_formula(c_r, c_m, f_r, f_m, k, shortcut, use_bias):
    # docs/design.md#rir (+ bias, + projection).
    total = k * k * (c_r + c_m) * (f_r + f_m) + 2 * (f_r + f_m)
    if use_bias:
        total += f_r + f_m
    if shortcut == "projection":
        total += c_r * f_r
    return total


@pytest.mark.parametrize(
    "c_r, c_m, f_r, f_m, k, strides, shortcut, use_bias, resnet_init",
    [
        (8, 8, 8, 8, 3, 1, "identity", False, False),
        (8, 8, 16, 16, 3, 2, "identity", False, False),
        (8, 8, 16, 16, 3, 2, "projection", False, False),
        (6, 3, 4, 9, 5, 1, "projection", True, False),
        (5, 7, 3, 2, 1, 1, None, True, False),
        (4, 4, 6, 2, 3, 1, None, False, True),
    ],
)
def test_trainable_parameter_count(
    c_r, c_m, f_r, f_m, k, strides, shortcut, use_bias, resnet_init
):
    layer = RiRConv(
        f_r,
        f_m,
        kernel_size=k,
        strides=strides,
        shortcut=shortcut,
        use_bias=use_bias,
        resnet_init=resnet_init,
        **FAST_INIT,
    )
    layer.build([(None, 8, 8, c_r), (None, 8, 8, c_m)])
    assert count_trainable(layer) == _param_formula(
        c_r, c_m, f_r, f_m, k, shortcut, use_bias
    )
    # BN moving mean and variance.
    non_trainable = layer.non_trainable_weights
    assert sum(int(np.prod(v.shape)) for v in non_trainable) == 2 * (f_r + f_m)


def test_config_without_newer_keys_keeps_its_old_meaning():
    # A config saved before `activation` existed loads with the ReLU on.
    layer = RiRConv(4, 3, shortcut=None, resnet_init=True, name="rir")
    config = json.loads(json.dumps(layer.get_config()))
    assert config.pop("activation") == "relu"
    old = RiRConv.from_config(config)
    assert old.activation == "relu"
    assert old.shortcut is None and old.resnet_init
    r, m = _inputs(np.random.default_rng(8), 2, 3)
    old.build([r.shape, m.shape])
    _randomise(old, np.random.default_rng(9))
    for out, exp in zip(to_numpy_list(old([r, m], training=False)),
                        _reference(old, r, m, training=False)):
        np.testing.assert_allclose(out, exp, rtol=1e-4, atol=1e-4)
        assert np.all(out >= 0)


def test_config_is_constructor_arguments_and_round_trips():
    layer = RiRConv(
        6,
        5,
        kernel_size=5,
        strides=2,
        shortcut="projection",
        use_bias=True,
        momentum=0.8,
        epsilon=1e-3,
        kernel_initializer=keras.initializers.VarianceScaling(
            2.0, "fan_out", "uniform"
        ),
        seed=3,
        activation=None,
        name="rir",
    )
    config = layer.get_config()
    base_keys = set(keras.layers.Layer().get_config())
    arguments = set(inspect.signature(RiRConv.__init__).parameters) - {
        "self",
        "kwargs",
    }
    assert set(config) - base_keys == arguments
    assert_config_round_trip(layer)


def _two_layer_model(rng, use_bias=False):
    """Strided projection layer, then a ResNet Init layer (random weights)."""
    r_in = keras.Input((8, 8, 3), name="r")
    m_in = keras.Input((8, 8, 4), name="m")
    first = RiRConv(
        6, 4, strides=2, shortcut="projection", use_bias=use_bias, **FAST_INIT
    )
    second = RiRConv(
        6, 4, shortcut=None, resnet_init=True, use_bias=use_bias, **FAST_INIT
    )
    model = keras.Model([r_in, m_in], second(first([r_in, m_in])))
    _randomise(first, rng)
    _randomise(second, rng)
    return model


def test_keras_reload_in_fresh_process_is_bit_exact(tmp_path):
    rng = np.random.default_rng(3)
    model = _two_layer_model(rng, use_bias=True)
    assert_keras_reload_in_fresh_process(
        model, list(_inputs(rng, 3, 4)), tmp_path
    )


@pytest.mark.parametrize("use_bias, training", [(False, True), (True, False)])
def test_every_trainable_weight_gets_a_gradient(use_bias, training):
    # The bias is checked in inference mode: in training mode the batch
    # mean of BN removes it, so its gradient is zero by construction.
    rng = np.random.default_rng(4)
    model = _two_layer_model(rng, use_bias=use_bias)
    assert_all_trainable_weights_get_gradients(
        model, list(_inputs(rng, 3, 4)), training=training
    )


def test_mixed_float16_outputs_and_gradients_are_finite():
    keras.config.set_dtype_policy("mixed_float16")
    rng = np.random.default_rng(5)
    model = _two_layer_model(rng)
    inputs = list(_inputs(rng, 3, 4, scale=1000.0))
    for layer in model.layers:
        if isinstance(layer, RiRConv):
            assert all(v.dtype == "float32" for v in layer.weights)
    for training in (False, True):
        outputs = to_numpy_list(model(inputs, training=training))
        for out in outputs:
            assert out.dtype == np.float16
            assert np.all(np.isfinite(out))
            assert np.any(out != 0)
    grads = trainable_gradients(model, inputs, training=True)
    assert len(grads) == len(model.trainable_variables)
    for var, grad in zip(model.trainable_variables, grads):
        assert grad is not None and np.all(np.isfinite(grad)), var.path
        assert np.any(grad != 0), var.path


@pytest.mark.parametrize("strides", [1, 2])
def test_output_shapes_symbolic_and_dynamic(strides):
    layer = RiRConv(5, 3, strides=strides, **FAST_INIT)
    r_sym = keras.KerasTensor((None, None, None, 4))
    m_sym = keras.KerasTensor((None, None, None, 2))
    sym = layer([r_sym, m_sym])
    assert [tuple(t.shape) for t in sym] == [
        (None, None, None, 5),
        (None, None, None, 3),
    ]
    r_in, m_in = keras.Input((None, None, 4)), keras.Input((None, None, 2))
    model = keras.Model([r_in, m_in], layer([r_in, m_in]))
    rng = np.random.default_rng(6)
    _randomise(layer, rng)
    for hw in [(8, 8), (7, 9)]:
        r, m = _inputs(rng, 4, 2, hw)
        out_hw = tuple(-(-n // strides) for n in hw)
        expected = [(BATCH,) + out_hw + (5,), (BATCH,) + out_hw + (3,)]
        assert layer.compute_output_shape([r.shape, m.shape]) == expected
        assert [o.shape for o in to_numpy_list(model([r, m]))] == expected
        # Built without spatial sizes, it still matches the reference.
        got = to_numpy_list(model([r, m], training=False))
        for a, b in zip(got, _reference(layer, r, m, training=False)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


# Error cases are looped inside one test each rather than parametrised: the
# shared autouse fixture's `clear_session()` costs ~0.4 s per test.
BAD_CONSTRUCTOR_ARGUMENTS = [
    ({"filters_r": 0}, "filters_r", 0),
    ({"filters_m": 0}, "filters_m", 0),
    ({"filters_r": 2.5}, "filters_r", 2.5),
    ({"shortcut": "option_a"}, "shortcut", "option_a"),
    ({"kernel_size": 2}, "kernel_size", 2),
    ({"kernel_size": (3, 5)}, "kernel_size", (3, 5)),
    ({"strides": 0}, "strides", 0),
    ({"resnet_init": "yes"}, "resnet_init", "yes"),
    ({"resnet_init": True}, "shortcut", "identity"),
    ({"use_bias": 1}, "use_bias", 1),
    ({"momentum": 1.5}, "momentum", 1.5),
    ({"epsilon": -1}, "epsilon", -1),
    ({"kernel_initializer": "nope"}, "kernel_initializer", "nope"),
    # A plain callable would not survive get_config / from_config.
    ({"kernel_initializer": np.zeros}, "kernel_initializer", np.zeros),
    ({"seed": -1}, "seed", -1),
    ({"activation": "sigmoid"}, "activation", "sigmoid"),
    ({"residual_channels": 0}, "residual_channels", 0),
    ({"residual_channels": 4, "outer_streams": "transient"},
     "outer_streams", "transient"),
    ({"outer_streams": "residual"}, "outer_streams", "residual"),
]


def test_bad_constructor_arguments_raise():
    for kwargs, argument, value in BAD_CONSTRUCTOR_ARGUMENTS:
        arguments = {"filters_r": 4, "filters_m": 4, **kwargs}
        pattern = re.escape(f"{argument}={value!r}")
        with pytest.raises(ValueError, match=pattern):
            RiRConv(**arguments)


BAD_INPUTS = [
    ({"filters_r": 3}, [(2, 8, 8, 4), (2, 8, 8, 4)], "filters_r=3"),
    ({}, [(2, 8, 8, 4)], "inputs"),
    ({}, [(2, 8, 8, 4)] * 3, "inputs"),
    ({}, [(2, 8, 8, 4), (2, 4, 4, 4)], "inputs"),
    ({}, [(2, 8, 8, 4), (3, 8, 8, 4)], "inputs"),
    ({}, [(2, 8, 4), (2, 8, 4)], "inputs"),
]


BAD_JOINED_INPUTS = [
    ([(2, 8, 8, 4)], "residual_channels=4"),  # no transient channel
    ([(2, 8, 8, 6)] * 3, "inputs"),
    ([(2, 8, 8, 6), (2, 4, 4, 8)], "outer"),
    ([(2, 8, 8, 6), (2, 8, 8, 4)], "outer"),
]


def test_bad_joined_inputs_raise():
    for shapes, argument in BAD_JOINED_INPUTS:
        layer = RiRConv(4, 4, residual_channels=4)
        arrays = [np.zeros(s, "float32") for s in shapes]
        with pytest.raises(ValueError, match=re.escape(argument)):
            layer(arrays[0] if len(arrays) == 1 else arrays)


def test_bad_inputs_raise():
    for layer_kwargs, shapes, argument in BAD_INPUTS:
        layer = RiRConv(**{"filters_r": 4, "filters_m": 4, **layer_kwargs})
        arrays = [np.zeros(s, "float32") for s in shapes]
        with pytest.raises(ValueError, match=re.escape(argument)):
            layer(arrays[0] if len(arrays) == 1 else arrays)


BAD_INITIALIZER_ARGUMENTS = [
    ({"channels_r": 0}, None, "channels_r=0"),
    ({"filters_r": None}, None, "filters_r=None"),
    ({"base": "nope"}, None, "base='nope'"),
    ({"base": lambda shape, dtype=None: 0}, None, "base="),
    ({"channels_r": 4}, (3, 3, 3, 4), "shape=(3, 3, 3, 4)"),
    ({}, (2, 2, 4, 4), "shape=(2, 2, 4, 4)"),
    ({}, (3, 3, 4), "shape=(3, 3, 4)"),
]


def test_identity_init_bad_arguments_raise():
    for kwargs, shape, argument in BAD_INITIALIZER_ARGUMENTS:
        arguments = {"base": "zeros", "channels_r": 2, "filters_r": 2, **kwargs}
        with pytest.raises(ValueError, match=re.escape(argument)):
            RiRIdentityInit(**arguments)(shape)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_stream_split_is_channel_slicing(data_format):
    x = np.random.default_rng(3).standard_normal((2, 5, 6, 7)).astype(
        "float32")
    axis = -1 if data_format == "channels_last" else 1
    split = StreamSplit(3, data_format=data_format)
    r, m = to_numpy_list(split(x))
    np.testing.assert_array_equal(r, np.take(x, np.arange(3), axis=axis))
    np.testing.assert_array_equal(m, np.take(x, np.arange(3, x.shape[axis]),
                                             axis=axis))
    assert [tuple(s) for s in split.compute_output_shape(x.shape)] == [
        r.shape, m.shape]
    assert_config_round_trip(split)
    with pytest.raises(ValueError, match="residual_channels=0"):
        StreamSplit(0)
    with pytest.raises(ValueError, match="residual_channels`=7"):
        StreamSplit(7, data_format=data_format)(x)
