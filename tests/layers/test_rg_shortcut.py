import inspect

import keras
import numpy as np
import pytest

from keras_resvariants.layers import RGShortcut
from keras_resvariants.layers import get_implementation
from keras_resvariants.layers import implementation_scope
from tests.reference.rg_shortcut_ref import rg_shortcut_ref
from tests.testing import assert_all_trainable_weights_get_gradients
from tests.testing import assert_config_round_trip
from tests.testing import assert_keras_reload_in_fresh_process
from tests.testing import count_calls
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
    # One instance, both implementations chosen at call time.
    x = _x(shape)
    layer = RGShortcut(groups=groups)
    layer.build(shape)
    gamma, beta = _randomise_affine(layer)
    assert layer.implementation is None
    assert get_implementation(RGShortcut) == "fast"
    y_fast = _np(layer(x))
    with implementation_scope("RGShortcut", "keras"):
        y_keras = _np(layer(x))
    assert get_implementation(RGShortcut) == "fast"
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
    layer = RGShortcut(groups=4, epsilon=10.0)
    layer.implementation = implementation
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
    model = keras.Model(inp, RGShortcut(groups=4)(inp))
    with implementation_scope(RGShortcut, implementation):
        assert_all_trainable_weights_get_gradients(model, _x())


def _count_keras_group_norm_calls(monkeypatch):
    return count_calls(monkeypatch, keras.layers.GroupNormalization, "call")


def test_fast_and_keras_gradients_agree_on_one_instance(monkeypatch):
    x = _x()
    inp = keras.Input(SHAPE[1:])
    layer = RGShortcut(groups=4)
    model = keras.Model(inp, layer(inp))
    _randomise_affine(layer)
    calls = _count_keras_group_norm_calls(monkeypatch)
    results = {}
    for implementation, keras_calls in (("fast", 0), ("keras", 1)):
        layer.implementation = implementation
        calls.clear()
        outputs = [_np(model(x))]
        assert len(calls) == keras_calls, implementation
        results[implementation] = (outputs + trainable_gradients(model, x)
                                   + input_gradients(model, x))
    for a, b in zip(results["fast"], results["keras"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    # The instance's own choice wins over the process-wide one.
    calls.clear()
    with implementation_scope(RGShortcut, "fast"):
        model(x)
    assert len(calls) == 1


def _finite_difference_gradients(x, groups, gamma, beta, projection,
                                 epsilon, h=1e-5):
    """Central differences of `sum(projection * reference(x))` in float64,
    w.r.t. x, gamma and beta: independent of any autodiff."""

    def loss(x_, gamma_, beta_):
        return np.sum(projection * rg_shortcut_ref(x_, groups, gamma_,
                                                   beta_, epsilon))

    args = [np.asarray(a, np.float64) for a in (x, gamma, beta)]
    grads = []
    for i, arg in enumerate(args):
        grad = np.empty_like(arg)
        for index in np.ndindex(arg.shape):
            shifted = [a.copy() for a in args]
            shifted[i][index] += h
            up = loss(*shifted)
            shifted[i][index] -= 2 * h
            grad[index] = (up - loss(*shifted)) / (2 * h)
        grads.append(grad)
    return grads


@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_fast_gradients_equal_finite_differences_of_the_reference(offset):
    # The fast path's gradients against the NumPy definition,
    # differentiated numerically (the inputs kept away from ReLU's kink;
    # offset 100: the large-mean case, where the centring must not cancel
    # the gradient's digits away).
    shape, groups, epsilon = (2, 3, 3, 8), 4, 1e-3
    rng = np.random.default_rng(5)
    x = rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    x = (x + offset).astype("float32")
    inp = keras.Input(shape[1:])
    layer = RGShortcut(groups=groups, epsilon=epsilon)
    model = keras.Model(inp, layer(inp))
    gamma, beta = _randomise_affine(layer)
    assert layer.implementation is None
    got = trainable_gradients(model, x) + input_gradients(model, x)
    # trainable_gradients / input_gradients project with the seed-0 draw.
    projection = np.random.default_rng(0).standard_normal(shape)
    d_x, d_gamma, d_beta = _finite_difference_gradients(
        x, groups, gamma, beta, projection, epsilon)
    scale = max(1.0, offset)
    np.testing.assert_allclose(got[0], d_gamma, rtol=1e-3, atol=1e-3 * scale)
    np.testing.assert_allclose(got[1], d_beta, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(got[2], d_x, rtol=1e-3, atol=1e-3)
    assert np.max(np.abs(d_x)) > 0.1


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cpu_and_accelerator_forms_of_the_fast_path_agree(monkeypatch,
                                                          data_format):
    # On a CPU the fast path sums by matrix products and writes its
    # gradient out; on an accelerator it differentiates its reductions.
    # Same outputs and gradients (input, gamma, beta), both layouts.
    from keras_resvariants.layers import implementation
    from keras_resvariants.layers import rg_shortcut

    x = _x((2, 5, 6, 16), offset=0.3)
    if data_format == "channels_first":
        x = np.transpose(x, (0, 3, 1, 2))
    inp = keras.Input(x.shape[1:])
    layer = RGShortcut(groups=4, data_format=data_format)
    model = keras.Model(inp, layer(inp))
    _randomise_affine(layer)
    sums = count_calls(monkeypatch, rg_shortcut, "spatial_sums")
    results = {}
    for accelerator in (False, True):
        monkeypatch.setattr(implementation, "on_accelerator",
                            lambda: accelerator)
        sums.clear()
        results[accelerator] = ([_np(model(x))]
                                + trainable_gradients(model, x)
                                + input_gradients(model, x))
        assert bool(sums) != accelerator
    for a, b in zip(results[False], results[True]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_sums_are_sums_over_the_spatial_axes(data_format):
    from keras_resvariants.layers.rg_shortcut import spatial_sums

    x = _x((3, 4, 5, 6, 7))  # two or three spatial axes
    for t in (x, x[:, 0]):
        axes = tuple(range(1, t.ndim - 1))
        if data_format == "channels_first":
            t = np.moveaxis(t, -1, 1)
            axes = tuple(range(2, t.ndim))
        sums, size = spatial_sums(keras.ops.convert_to_tensor(t),
                                  data_format)
        assert int(size) == int(np.prod([t.shape[a] for a in axes]))
        np.testing.assert_allclose(_np(sums), t.sum(axis=axes), rtol=1e-5,
                                   atol=1e-4)


def test_trains_at_any_spatial_size():
    # A model with unknown height and width: the sums' sizes are read at
    # run time; fit (compiled) at two sizes, and the gradient reaches
    # gamma and beta.
    inp = keras.Input((None, None, 8))
    layer = RGShortcut(groups=2)
    out = keras.layers.GlobalAveragePooling2D()(layer(inp))
    model = keras.Model(inp, keras.layers.Dense(3)(out))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(0)
    before = [_np(w) for w in layer.weights]
    for size in (5, 8):
        x = rng.standard_normal((4, size, size + 1, 8)).astype("float32")
        history = model.fit(x, rng.standard_normal((4, 3)), epochs=1,
                            batch_size=4, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    for a, b in zip(before, layer.weights):
        assert np.all(np.isfinite(_np(b))) and np.any(_np(b) != a)


@pytest.mark.parametrize("implementation", ["fast", "keras"])
def test_mixed_precision_finite(implementation):
    keras.config.set_dtype_policy("mixed_float16")
    inp = keras.Input(SHAPE[1:])
    layer = RGShortcut(groups=4)
    layer.implementation = implementation
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
    layer = RGShortcut(groups=8, epsilon=1e-3, name="rg")
    layer.implementation = "keras"
    clone = assert_config_round_trip(layer)
    # The implementation is a run-time choice: not saved.
    assert (clone.groups, clone.epsilon, clone.implementation) == (
        8,
        1e-3,
        None,
    )
    assert clone.norm.epsilon == 1e-3 and clone.norm.groups == 8
    own = set(layer.get_config()) - set(keras.layers.Layer().get_config())
    params = set(inspect.signature(RGShortcut.__init__).parameters)
    # `implementation` stays accepted (deprecated) but is not in configs.
    assert own == params - {"self", "kwargs", "implementation"}


@pytest.mark.parametrize("old", ["fast", "keras"])
def test_configs_saved_with_an_implementation_still_load(old):
    config = RGShortcut(groups=8, name="rg").get_config()
    clone = RGShortcut.from_config({**config, "implementation": old})
    assert clone.implementation is None
    assert clone.get_config() == config
    # Older still: no `data_format` either (channels_last).
    del config["data_format"]
    older = RGShortcut.from_config({**config, "implementation": old})
    assert older.data_format == "channels_last"


def test_the_constructor_argument_is_a_deprecated_override():
    with pytest.warns(DeprecationWarning,
                      match="`implementation` argument of RGShortcut"):
        layer = RGShortcut(groups=4, implementation="keras")
    assert layer.implementation == "keras"
    assert "implementation" not in layer.get_config()


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


def test_bad_implementation_names_the_value_and_the_choices():
    layer = RGShortcut(groups=4)
    for bad in ("slow", "Keras", "auto", 0):
        with pytest.raises(ValueError) as info:
            layer.implementation = bad
        assert str(info.value) == (
            "`implementation` must be one of None, 'fast', 'keras' for "
            f"RGShortcut. Received: implementation={bad!r}")
    assert layer.implementation is None
