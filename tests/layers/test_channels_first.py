"""Every layer in channels_first, against independent computations.

Each layer built with `data_format="channels_first"` is compared with the
same layer in channels_last, with the same weights, seeds and masks, on the
same data transposed by Keras' own `Permute` (outputs and gradients, in
training and inference), and with the NumPy references of
tests/reference/ (written NHWC, fed the transposed data). Configs carry
the format, `None` follows `keras.config.image_data_format()`, configs
saved before the argument existed keep meaning channels_last, and weights
files move between the formats.

Runs on every backend (the JAX and torch runs are launched by
tests/test_other_backends.py); the cases that convolve are skipped where
the backend cannot run a channels_first convolution (TensorFlow's CPU
kernels without oneDNN).
"""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from keras_resvariants import layers as L
from tests.channels_first_helpers import image_data_format
from tests.channels_first_helpers import needs_channels_first_conv
from tests.channels_first_helpers import to_cf
from tests.channels_first_helpers import to_cl
from tests.reference import rir_conv_ref
from tests.reference.bridge_se_ref import bridge_se_ref
from tests.reference.rg_shortcut_ref import rg_shortcut_ref
from tests.reference.ror_add_ref import ror_add_ref
from tests.reference.seq_conv2d_ref import seq_conv2d_ref
from tests.testing import as_list
from tests.testing import assert_config_round_trip
from tests.testing import predict_outputs
from tests.testing import to_numpy_list

TOL = dict(rtol=1e-4, atol=1e-5)
# Weights are overwritten with random NumPy values; "zeros" spares the JAX
# backend a random-initializer compilation per kernel shape.
ZEROS = {"kernel_initializer": "zeros"}


@pytest.fixture(autouse=True)
def _channels_last_around_each_test():
    keras.config.set_image_data_format("channels_last")
    yield
    keras.config.set_image_data_format("channels_last")
    _JITTED.clear()


@dataclasses.dataclass
class Case:
    """`make(data_format)` builds the layer; `shapes` are the NHWC input
    shapes (batch included); `reference(layer, inputs, training)` returns
    the NHWC outputs from the NumPy reference, or None where the case has
    none (random gates or dropout masks in training)."""

    make: object
    shapes: list
    reference: object = None
    convolves: bool = False
    positive: tuple = ()  # indices of inputs drawn > 0
    # `training` values to check. Layers that compute the same in training
    # and inference are checked in training only.
    modes: tuple = (False, True)


def _ror_reference(layer, inputs, training):
    if training:  # random gates: compared with channels_last only
        return None
    shortcut, residual = inputs
    gate = 1.0 - layer.drop_rate if layer.scale_at == "inference" else 1.0
    return [ror_add_ref(shortcut, residual, layer.represent_indices, gate)]


def _rg_reference(layer, inputs, training):
    return [rg_shortcut_ref(inputs[0], layer.groups, _np(layer.norm.gamma),
                            _np(layer.norm.beta), layer.epsilon)]


def _se_reference(layer, inputs, training):
    return [bridge_se_ref(inputs[0], _np(layer.squeeze_kernel),
                          _np(layer.squeeze_bias), _np(layer.excite_kernel),
                          _np(layer.excite_bias))]


def _pad_reference(layer, inputs, training):
    x = inputs[0][:, ::layer.strides, ::layer.strides, :]
    extra = layer.filters - x.shape[-1]
    return [np.pad(x, ((0, 0), (0, 0), (0, 0), (0, extra)))]


def _grouped_reference(layer, inputs, training):
    # Keras' own grouped Conv2D in channels_last, with the layer's weights.
    config = layer.get_config()
    config["data_format"] = "channels_last"
    conv = keras.layers.Conv2D.from_config(config)
    conv.build(inputs[0].shape)
    conv.set_weights(layer.get_weights())
    return [_np(conv(inputs[0]))]


def _rir_reference(layer, inputs, training):
    r, m = inputs
    w = {v.path.split("/")[-1]: _np(v) for v in layer.weights}
    c_r, f_r = r.shape[-1], layer.filters_r
    kernel, projection = w["kernel"], w.get("shortcut_kernel")
    return list(rir_conv_ref.rir_conv(
        r, m,
        w_rr=kernel[:, :, :c_r, :f_r], w_mr=kernel[:, :, c_r:, :f_r],
        w_rm=kernel[:, :, :c_r, f_r:], w_mm=kernel[:, :, c_r:, f_r:],
        stride=layer.strides, shortcut=layer.shortcut,
        projection=None if projection is None else projection[0, 0],
        bias=w.get("bias"), gamma=w["gamma"], beta=w["beta"],
        moving_mean=w["moving_mean"],
        moving_variance=w["moving_variance"], epsilon=layer.epsilon,
        training=training, activation=layer.activation,
    ))


def _seq_reference(layer, inputs, training):
    if training and layer.dropout:  # random masks: channels_last only
        return None
    x = inputs[0]
    shortcut = inputs[1] if len(inputs) == 2 else None
    w = {v.path.split("/")[-1]: _np(v) for v in layer.weights}
    c_in, k = x.shape[-1], layer.group_width
    g = layer.filters // k
    window = c_in if layer.window == "auto" else layer.window
    widths = [min(window or 10**9, c_in + i * k) for i in range(g)]
    bounds = np.cumsum([0] + widths)

    def views(packed):
        return [packed[:, :, a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def bn(prefix):
        return {"gamma": w[prefix + "gamma"], "beta": w[prefix + "beta"],
                "mean": w[prefix + "moving_mean"],
                "var": w[prefix + "moving_variance"]}

    args = dict(group_width=k, window=window, bn=bn(""),
                epsilon=layer.epsilon, subgroups=layer.subgroups)
    if layer.bottleneck:
        rows = k // layer.subgroups
        args["kernels"] = [w["kernel"][:, :, i * rows:(i + 1) * rows]
                           for i in range(g)]
        args["reduce_kernels"] = [v[0, 0] for v in views(w["reduce_kernel"])]
        args["reduce_bn"] = bn("reduce_")
    else:
        args["kernels"] = views(w["kernel"])
    out = seq_conv2d_ref(x, shortcut=shortcut, training=training, **args)
    return [out["raw"], out["act"]] if layer.return_raw else [out["act"]]


CASES = {
    # RoRAdd: the mask on the channel axis; per-example gates ("sample")
    # and one gate per batch with inverted scaling, seeded alike.
    "ror_add-sample": Case(
        lambda f: L.RoRAdd(represent_ratio=0.25, drop_rate=0.5,
                           drop_mode="sample", seed=3, gate_seed=5,
                           data_format=f),
        [(4, 3, 5, 8), (4, 3, 5, 8)], _ror_reference),
    "ror_add-batch-train_scaling": Case(
        lambda f: L.RoRAdd(represent_ratio=0.5, drop_rate=0.5,
                           scale_at="train", seed=4, gate_seed=6,
                           data_format=f),
        [(2, 3, 5, 6), (2, 3, 5, 6)], _ror_reference),
    # RGShortcut: GroupNorm over the channel axis, both implementations.
    "rg_shortcut-fast": Case(
        lambda f: L.RGShortcut(groups=2, data_format=f),
        [(2, 3, 5, 8)], _rg_reference, modes=(True,)),
    "rg_shortcut-keras": Case(
        lambda f: L.RGShortcut(groups=4, implementation="keras",
                               data_format=f),
        [(2, 3, 5, 8)], _rg_reference, modes=(True,)),
    # BridgeSE: squeeze over the spatial axes, excite the channel axis.
    "bridge_se": Case(
        lambda f: L.BridgeSE(reduction=4, data_format=f),
        [(2, 3, 5, 8)], _se_reference, modes=(True,)),
    "channel_pad_shortcut": Case(
        lambda f: L.ChannelPadShortcut(7, strides=2, data_format=f),
        [(2, 5, 4, 3)], _pad_reference, modes=(True,)),
    # GroupedConv2D: the split path with one slice per group (wide groups)
    # and with block-diagonal slices (narrow groups), and the default.
    "grouped_conv2d-split-wide": Case(
        lambda f: L.GroupedConv2D(
            8, 3, groups=2, strides=2, padding="same", use_bias=True,
            implementation="split", data_format=f, **ZEROS),
        [(2, 5, 6, 18)], _grouped_reference, convolves=True,
        modes=(True,)),
    "grouped_conv2d-split-narrow": Case(
        lambda f: L.GroupedConv2D(
            16, 3, groups=8, padding="same", use_bias=False,
            implementation="split", data_format=f, **ZEROS),
        [(2, 4, 5, 16)], _grouped_reference, convolves=True,
        modes=(True,)),
    # "auto": split on TensorFlow, Conv2D's own grouped conv on JAX (on
    # TensorFlow that one is XLA-compiled, seconds per shape).
    "grouped_conv2d-auto": Case(
        lambda f: L.GroupedConv2D(
            8, 3, groups=4, strides=2, padding="valid", use_bias=True,
            data_format=f, **ZEROS),
        [(2, 5, 6, 8)], _grouped_reference, convolves=True,
        modes=(True,)),
    # RiRConv: both streams, strided option A (odd size) with a bias, and
    # a widening projection returning the pre-activations.
    "rir_conv-identity-s2": Case(
        lambda f: L.RiRConv(4, 3, strides=2, use_bias=True, data_format=f,
                            **ZEROS),
        [(2, 5, 6, 3), (2, 5, 6, 3)], _rir_reference, convolves=True),
    "rir_conv-projection-preact": Case(
        lambda f: L.RiRConv(5, 2, strides=2, shortcut="projection",
                            activation=None, data_format=f, **ZEROS),
        [(2, 4, 5, 4), (2, 4, 5, 2)], _rir_reference, convolves=True),
    # SeqConv2D: windowed with a shortcut (the second group's window cuts
    # through the input), bottleneck with subgroups (the fast path), and
    # windowed in training with dropout (the per-group loop, which slices
    # the stream; same masks in both formats).
    "seq_conv2d-window-shortcut": Case(
        lambda f: L.SeqConv2D(8, 4, window=6, data_format=f, **ZEROS),
        [(2, 4, 5, 4), (2, 4, 5, 8)], _seq_reference, convolves=True),
    "seq_conv2d-bottleneck": Case(
        lambda f: L.SeqConv2D(8, 4, bottleneck=True, subgroups=2,
                              return_raw=False, data_format=f, **ZEROS),
        [(2, 4, 5, 8)], _seq_reference, convolves=True),
    "seq_conv2d-dropout": Case(
        lambda f: L.SeqConv2D(8, 4, window=6, dropout=0.5, seed=2,
                              data_format=f, **ZEROS),
        [(4, 4, 5, 4)], _seq_reference, convolves=True, positive=(0,),
        modes=(True,)),  # the inference path is the cases above
}


def _params(names):
    return [
        pytest.param(name, marks=[needs_channels_first_conv]
                     if CASES[name].convolves else [], id=name)
        for name in names
    ]


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _inputs(case, seed=0):
    rng = np.random.default_rng(seed)
    xs = []
    for i, shape in enumerate(case.shapes):
        if i in case.positive:
            xs.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            xs.append(rng.standard_normal(shape).astype("float32"))
    return xs


def _randomise(layer, seed=1):
    """Random kernels, biases and BN/GN parameters and statistics (every
    term matters); RoRAdd's mask stays the drawn split."""
    rng = np.random.default_rng(seed)
    for var in layer.weights:
        name = var.path.split("/")[-1]
        if name == "refine_mask" or "seed_generator" in var.path:
            continue
        if name.endswith(("gamma", "moving_variance")):
            value = rng.uniform(0.5, 1.5, var.shape)
        else:
            value = rng.standard_normal(var.shape) * 0.3
        var.assign(value.astype(var.dtype))


def _models(name):
    """Two models that take the same NHWC data and return NHWC outputs:
    the channels_last layer, and the channels_first layer between Keras'
    `Permute` layers. Same weights (the channels_first layer is given the
    channels_last one's, which must have the same shapes)."""
    case = CASES[name]
    cl_layer, cf_layer = case.make("channels_last"), case.make(
        "channels_first")
    assert (cl_layer.data_format, cf_layer.data_format) == (
        "channels_last", "channels_first")
    inputs = [keras.Input(s[1:]) for s in case.shapes]
    cl_out = cl_layer(inputs if len(inputs) > 1 else inputs[0])
    cl = keras.Model(inputs if len(inputs) > 1 else inputs[0], cl_out)
    inputs = [keras.Input(s[1:]) for s in case.shapes]
    moved = [keras.layers.Permute((3, 1, 2))(x) for x in inputs]
    cf_out = cf_layer(moved if len(moved) > 1 else moved[0])
    back = [keras.layers.Permute((2, 3, 1))(o) for o in as_list(cf_out)]
    cf = keras.Model(inputs if len(inputs) > 1 else inputs[0],
                     back if len(back) > 1 else back[0])
    _randomise(cl_layer)
    assert [tuple(w.shape) for w in cf_layer.weights] == [
        tuple(w.shape) for w in cl_layer.weights]
    cf_layer.set_weights(cl_layer.get_weights())
    return case, cl_layer, cf_layer, cl, cf


_JITTED = {}


def _run(model, xs, projections, training):
    """`model(xs, training=training)` (state updates included: moving
    statistics, seed generators) and the gradients of
    `sum(outputs * projections)` with respect to the trainable weights and
    the inputs, by the backend's own autodiff (TensorFlow, JAX, torch).
    Returns `(outputs, grads)` as NumPy arrays. On JAX one jitted function
    does both (op-by-op tracing costs seconds per shape)."""

    def loss_of(outs):
        return sum(keras.ops.sum(keras.ops.multiply(
            o, keras.ops.convert_to_tensor(p)))
            for o, p in zip(as_list(outs), projections))

    def feed(arrays):
        return arrays if len(arrays) > 1 else arrays[0]

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(x) for x in xs]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            outs = model(feed(tensors), training=training)
            loss = loss_of(outs)
        grads = tape.gradient(loss, model.trainable_variables + tensors)
        return to_numpy_list(outs), [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        tensors = [keras.ops.convert_to_tensor(x).requires_grad_(True)
                   for x in xs]
        outs = model(feed(tensors), training=training)
        wrt = [v.value for v in model.trainable_variables] + tensors
        grads = torch.autograd.grad(loss_of(outs), wrt)
        return ([o.detach().cpu().numpy() for o in as_list(outs)],
                [g.detach().cpu().numpy() for g in grads])
    if backend != "jax":
        raise NotImplementedError(backend)
    import jax

    key = (id(model), training)  # emptied after each test
    if key not in _JITTED:

        def fn(trainable, arrays, non_trainable):
            outs, state = model.stateless_call(
                trainable, non_trainable, feed(arrays), training=training)
            return loss_of(outs), (outs, state)

        _JITTED[key] = (model, jax.jit(
            jax.grad(fn, argnums=(0, 1), has_aux=True)))
    (g_vars, g_inputs), (outs, state) = _JITTED[key][1](
        [v.value for v in model.trainable_variables],
        [jax.numpy.asarray(x) for x in xs],
        [v.value for v in model.non_trainable_variables])
    for variable, value in zip(model.non_trainable_variables, state):
        variable.assign(value)
    grads = [np.asarray(g) for g in list(g_vars) + list(g_inputs)]
    return to_numpy_list(outs), grads


@pytest.mark.parametrize("name", _params(CASES))
def test_equals_channels_last_and_the_reference_on_transposed_input(name):
    case, cl_layer, cf_layer, cl, cf = _models(name)
    xs = _inputs(case)
    rng = np.random.default_rng(2)
    projections = [
        rng.standard_normal((len(xs[0]),) + tuple(o.shape[1:])).astype(
            "float32")
        for o in as_list(cl.output)
    ]
    n_weights = len(cl.trainable_variables)
    checked = set()
    # Training twice: new gates, masks and moving statistics.
    for training in case.modes + (True,):
        where = f"training={training}"
        # Read before the call: inference uses the moving statistics.
        reference = case.reference(cf_layer, xs, training)
        expected, expected_grads = _run(cl, xs, projections, training)
        got, grads = _run(cf, xs, projections, training)
        assert len(got) == len(expected) == len(projections)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, **TOL, err_msg=where)
        # Every case has a reference; in training only those without
        # random gates or masks (checked against channels_last above).
        assert reference is not None or training
        for a, b in zip(got, reference or ()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4,
                                       err_msg=f"reference, {where}")
        # The same moving statistics after the update.
        for a, b in zip(cf_layer.weights, cl_layer.weights):
            np.testing.assert_allclose(_np(a), _np(b), **TOL)
        assert len(grads) == len(expected_grads) == n_weights + len(xs)
        for i, (a, b) in enumerate(zip(grads, expected_grads)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4,
                                       err_msg=f"gradient {i}, {where}")
            if i >= n_weights:  # every input reaches the output
                assert np.any(a != 0)
        checked.add(training)
    assert checked == set(case.modes)


@needs_channels_first_conv
def test_dropout_drops_whole_channels_alike_in_both_formats():
    """The equality above in training with dropout is no tautology: with
    1x1 identity kernels each group's raw output is its dropped view, so
    the masks can be read off, per (sample, channel), in both formats."""
    k, g = 4, 3
    masks = {}
    x = np.random.default_rng(5).uniform(0.5, 1.5, (4, 3, 5, k)).astype(
        "float32")
    for data_format in ("channels_last", "channels_first"):
        layer = L.SeqConv2D(g * k, k, window=k, kernel_size=1, dropout=0.5,
                            seed=3, data_format=data_format, **ZEROS)
        feed = x if data_format == "channels_last" else to_cf(x)
        layer.build(feed.shape)
        layer.kernel.assign(np.tile(np.eye(k, dtype="float32"), (g, 1))[
            None, None])
        layer.beta.assign(np.full((g * k,), 10.0, "float32"))  # a_i > 0
        raw, act = (_np(t) for t in layer(feed, training=True))
        if data_format == "channels_first":
            raw, act = to_cl(raw), to_cl(act)
        views = [x] + [act[..., i * k:(i + 1) * k] for i in range(g - 1)]
        ratios = np.stack([raw[..., i * k:(i + 1) * k] / views[i]
                           for i in range(g)])  # (g, n, h, w, k)
        # One value per (sample, channel), 0 or 1 / (1 - rate).
        np.testing.assert_allclose(
            ratios, np.broadcast_to(ratios[:, :, :1, :1], ratios.shape),
            atol=1e-5)
        mask = np.round(ratios[:, :, 0, 0], 4)
        assert set(np.unique(mask)) == {0.0, 2.0}
        masks[data_format] = mask
    np.testing.assert_array_equal(masks["channels_first"],
                                  masks["channels_last"])


# ----------------------------------------------------------------------
# The argument: validation, default, config, old configs, files.

LAYERS = {
    "RoRAdd": lambda **kw: L.RoRAdd(seed=1, **kw),
    "RGShortcut": lambda **kw: L.RGShortcut(groups=2, **kw),
    "BridgeSE": lambda **kw: L.BridgeSE(reduction=2, **kw),
    "ChannelPadShortcut": lambda **kw: L.ChannelPadShortcut(8, **kw),
    "GroupedConv2D": lambda **kw: L.GroupedConv2D(8, 3, groups=2, **kw),
    "RiRConv": lambda **kw: L.RiRConv(4, 4, **kw),
    "SeqConv2D": lambda **kw: L.SeqConv2D(8, 4, **kw),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_bad_data_format_names_the_argument_value_and_choices(layer):
    for bad in ("channels_middle", "NCHW", "Channels_First", 1):
        with pytest.raises(ValueError) as info:
            LAYERS[layer](data_format=bad)
        message = str(info.value)
        assert "`data_format`" in message
        assert f"Received: data_format={bad!r}" in message
        assert "'channels_last'" in message and "'channels_first'" in message


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_none_is_the_global_format_when_made_and_stays_in_the_config(layer):
    with image_data_format("channels_first"):
        made = LAYERS[layer]()
        explicit = LAYERS[layer](data_format="channels_last")
    assert made.data_format == "channels_first"
    assert made.get_config()["data_format"] == "channels_first"
    assert explicit.get_config()["data_format"] == "channels_last"
    # The JSON round trip keeps it whatever the global format is now.
    clone = assert_config_round_trip(made)
    assert clone.data_format == "channels_first"
    assert LAYERS[layer]().data_format == "channels_last"


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_configs_saved_before_the_argument_load_as_channels_last(layer):
    config = json.loads(json.dumps(LAYERS[layer](
        data_format="channels_last").get_config()))
    if layer != "GroupedConv2D":  # Conv2D's configs always held it
        assert config.pop("data_format") == "channels_last"
    with image_data_format("channels_first"):
        old = type(LAYERS[layer]()).from_config(config)
    assert old.data_format == "channels_last"


def _stack(data_format):
    """One model through every layer, NHWC or NCHW input."""
    f = data_format
    x = keras.Input((5, 6, 4) if f == "channels_last" else (4, 5, 6))
    y = L.GroupedConv2D(8, 3, groups=2, padding="same", use_bias=True,
                        data_format=f, name="grouped", **ZEROS)(x)
    y = L.RGShortcut(groups=2, data_format=f, name="rg")(y)
    y = L.BridgeSE(reduction=2, data_format=f, name="se")(y)
    r, m = L.RiRConv(8, 4, data_format=f, name="rir", **ZEROS)([y, y])
    raw, act = L.SeqConv2D(8, 4, data_format=f, name="seq", **ZEROS)([m, r])
    pad = L.ChannelPadShortcut(8, strides=1, data_format=f, name="pad")(m)
    out = L.RoRAdd(represent_ratio=0.25, drop_rate=0.2, seed=2,
                   data_format=f, name="ror")([pad, act])
    return keras.Model(x, [out, raw])


@needs_channels_first_conv
def test_keras_file_and_weights_file_round_trips(tmp_path):
    model = _stack("channels_first")
    for layer in model.layers:
        _randomise(layer, seed=len(layer.name))
    x = np.random.default_rng(4).standard_normal((2, 4, 5, 6)).astype(
        "float32")
    expected = predict_outputs(model, x)
    path = os.path.join(str(tmp_path), "cf.keras")
    model.save(path)
    # Reloaded under the other global format: the configs carry theirs.
    with image_data_format("channels_last"):
        reloaded = keras.saving.load_model(path)
    for a, b in zip(predict_outputs(reloaded, x), expected):
        np.testing.assert_array_equal(a, b)
    # Weights saved from channels_first load into channels_last layers
    # and give the same outputs on the transposed data.
    weights = os.path.join(str(tmp_path), "cf.weights.h5")
    model.save_weights(weights)
    other = _stack("channels_last")
    other.load_weights(weights)
    for a, b in zip(predict_outputs(other, to_cl(x)), expected):
        np.testing.assert_allclose(a, to_cl(b), **TOL)
