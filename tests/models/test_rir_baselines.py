"""RiR's Figure 2 grid against independent references.

- mode "resnet" is He et al.'s ResNet of the same total width: the
  package's single-stream CIFAR ResNet-32 (option A, and option B = the
  registered `resnet_32`), with the weights copied over;
- the learnable inner identity (Eq. 2's `W + I`) equals the constant one
  (Eq. 1) at initialisation, and after adding I to the kernels;
- one RiR block of every reading against a NumPy composition of the
  stream-by-stream `RiRConv` reference and the outer shortcut;
- parameter counts: the paper's "no added cost" (all four cells 464,154
  and 9,469,940 parameters).
"""

import keras
import numpy as np
import pytest
from reference import rir_conv_ref as ref

import keras_resvariants as kr
from keras_resvariants.blocks import parts
from keras_resvariants.blocks import specs as s
from keras_resvariants.blocks.context import BuildContext
from keras_resvariants.layers import RiRConv
from keras_resvariants.layers import StreamSplit
from keras_resvariants.models import build_model
from keras_resvariants.models.resnet import cifar_basic
from tests.testing import count_trainable
from tests.testing import trainable_gradients

SHAPE = (16, 16, 3)
CLASSES = 5


def _images(seed=0, batch=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch,) + SHAPE).astype("float32")


def _logits(model, x, training):
    return keras.ops.convert_to_numpy(model(x, training=training))


def _randomise_bn(model, rng):
    """Random BN parameters and statistics (inference mode is non-trivial)."""
    for layer in model.layers:
        norm = layer.norm if isinstance(layer, RiRConv) else layer
        if isinstance(norm, keras.layers.BatchNormalization):
            gamma, beta, mean, var = norm.get_weights()
            norm.set_weights([
                rng.uniform(0.2, 0.6, gamma.shape).astype("float32"),
                rng.normal(0, 0.2, beta.shape).astype("float32"),
                rng.normal(0, 0.2, mean.shape).astype("float32"),
                rng.uniform(0.5, 1.5, var.shape).astype("float32"),
            ])


def _bn_weights(norm):
    return [np.asarray(w) for w in norm.get_weights()]


# --------------------------------------------------------------------------
# mode "resnet" == He et al.'s ResNet-32


def _he_resnet_32(projection):
    shortcut = s.Shortcut(
        projection=s.Projection() if projection else s.PadProjection())
    return build_model(cifar_basic(32, shortcut=shortcut), input_shape=SHAPE,
                       classes=CLASSES, classifier_activation=None,
                       name="he_resnet_32")


def _copy_two_stream_into_single(two, one, projection):
    """Copies the weights of `rir_resnet_32` into a single-stream ResNet-32.

    Channel `i` of `concat(r, m)` is channel `perm[i]` of the single-stream
    net. Option A pads each stream's zero channels at the stream's end, so
    after a widening block the two layouts differ by a permutation, which
    is tracked here; with projections they stay equal.
    """
    stem = [two.get_layer(f"stem_{x}_conv").get_weights()[0] for x in "rm"]
    one.get_layer("stem_conv").set_weights([np.concatenate(stem, -1)])
    bns = [_bn_weights(two.get_layer(f"stem_{x}_bn")) for x in "rm"]
    one.get_layer("stem_bn").set_weights(
        [np.concatenate(pair) for pair in zip(*bns)])
    perm = np.arange(16)
    widths_in = (8, 8)
    for stage, (f_r, f_m) in enumerate([(8, 8), (16, 16), (32, 32)], 1):
        for block in range(1, 6):
            name = f"stage{stage}_block{block}"
            c_r, c_m = widths_in
            out = perm
            if (c_r, c_m) != (f_r, f_m) and not projection:
                out = np.empty(f_r + f_m, int)
                out[:c_r] = perm[:c_r]
                out[f_r:f_r + c_m] = perm[c_r:]
                zeros = np.r_[c_r:f_r, f_r + c_m:f_r + f_m]
                out[zeros] = np.arange(c_r + c_m, f_r + f_m)
            elif (c_r, c_m) != (f_r, f_m):
                out = np.arange(f_r + f_m)
                proj = [two.get_layer(f"{name}_shortcut{x}_proj")
                        for x in ("", "_transient")]
                kernel = np.concatenate([p.get_weights()[0] for p in proj], -1)
                one.get_layer(f"{name}_shortcut_proj").set_weights(
                    [kernel[:, :, np.argsort(perm)]])
                bns = [_bn_weights(two.get_layer(f"{name}_shortcut{x}_proj_bn"))
                       for x in ("", "_transient")]
                one.get_layer(f"{name}_shortcut_proj_bn").set_weights(
                    [np.concatenate(pair) for pair in zip(*bns)])
            hidden = np.arange(f_r + f_m)
            for layer, (p_in, p_out) in enumerate([(perm, hidden),
                                                   (hidden, out)], 1):
                rir = two.get_layer(f"{name}_rir{layer}")
                kernel = np.asarray(rir.kernel)
                kernel = kernel[:, :, np.argsort(p_in)][..., np.argsort(p_out)]
                one.get_layer(f"{name}_{layer}_conv").set_weights([kernel])
                one.get_layer(f"{name}_{layer}_bn").set_weights(
                    [w[np.argsort(p_out)] for w in _bn_weights(rir.norm)])
            perm, widths_in = out, (f_r, f_m)
    kernel, bias = two.get_layer("predictions").get_weights()
    one.get_layer("predictions").set_weights([kernel[np.argsort(perm)], bias])


@pytest.mark.parametrize("shortcut", ["identity", "projection"])
def test_rir_resnet_32_is_he_resnet_32(shortcut):
    projection = shortcut == "projection"
    he = _he_resnet_32(projection)
    # He et al.'s ResNet-32: 0.46M with option A (464,154 with 10 classes;
    # 65 per class); option B is the registered `resnet_32`.
    ten_classes = 466_906 if projection else 464_154
    assert count_trainable(he) == ten_classes - 65 * (10 - CLASSES)
    if projection:
        two = kr.RiRNet(mode="resnet", shortcut="projection",
                        input_shape=SHAPE, classes=CLASSES,
                        classifier_activation=None)
        assert ten_classes == kr.model_info("resnet_32")["params"]
    else:
        two = kr.RiRResNet32(input_shape=SHAPE, classes=CLASSES,
                             classifier_activation=None)
    assert count_trainable(two) == count_trainable(he)
    _randomise_bn(two, np.random.default_rng(1))
    _copy_two_stream_into_single(two, he, projection)
    x = _images()
    # Inference first: the training call updates the moving statistics.
    for training in (False, True):
        want = _logits(he, x, training)
        got = _logits(two, x, training)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        assert 0.1 < np.abs(want).max() < 100, np.abs(want).max()


# --------------------------------------------------------------------------
# Learnable (Eq. 2) and fixed (Eq. 1) inner identities


def _rir_convs(model):
    return [layer for layer in model.layers if isinstance(layer, RiRConv)]


def _add_identity(kernel, channels_r, filters_r):
    return kernel + ref.centre_identity(kernel.shape,
                                        min(channels_r, filters_r))


def test_learnable_identity_equals_fixed_identity():
    builds = {}
    for reading in ("learnable", "fixed"):
        keras.utils.set_random_seed(7)
        builds[reading] = kr.RiRNet32(
            input_shape=SHAPE, classes=CLASSES, classifier_activation=None,
            inner_identity=reading)
    learnable, fixed = builds["learnable"], builds["fixed"]
    pairs = list(zip(_rir_convs(learnable), _rir_convs(fixed)))
    assert len(pairs) == 30
    for a, b in pairs:
        assert (a.shortcut, a.resnet_init) == (None, True)
        assert (b.shortcut, b.resnet_init) == ("identity", False)
    # The same random draws: W + I against W plus the constant I.
    for a, b in pairs:
        np.testing.assert_allclose(
            np.asarray(a.kernel),
            _add_identity(np.asarray(b.kernel), b._channels_r, b.filters_r),
            rtol=0, atol=1e-7)
    _randomise_bn(fixed, np.random.default_rng(2))
    # The nets differ in weightless layers only (the fixed one splits the
    # streams where a stage changes shape): pair the others by name.
    for b in fixed.layers:
        if not b.weights:
            continue
        a = learnable.get_layer(b.name)
        if not isinstance(a, RiRConv):
            a.set_weights(b.get_weights())
        else:
            a.norm.set_weights(b.norm.get_weights())
    x = _images(3)
    for training in (False, True):
        np.testing.assert_allclose(_logits(learnable, x, training),
                                   _logits(fixed, x, training),
                                   rtol=1e-6, atol=1e-6)

    # Any fixed-identity weights load into the learnable net after adding
    # I to the residual-to-residual centre tap of every RiRConv kernel.
    rng = np.random.default_rng(4)
    for a, b in pairs:
        kernel = rng.normal(0, 0.1, b.kernel.shape).astype("float32")
        b.kernel.assign(kernel)
        a.kernel.assign(_add_identity(kernel, b._channels_r, b.filters_r))
    for training in (False, True):
        np.testing.assert_allclose(_logits(learnable, x, training),
                                   _logits(fixed, x, training),
                                   rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------
# One block against NumPy


def _np_bn(x, norm, training):
    gamma, beta, mean, var = _bn_weights(norm)
    if training:
        mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    return ref.batch_norm(x, gamma, beta, mean, var, norm.epsilon)


def _np_outer(block, model, r, m, widths, stride, training):
    """NumPy outer shortcut tensors `(s_r, s_m)` of the block `b`."""
    f_r, f_m = widths
    reshapes = stride != 1 or r.shape[-1] != f_r or m.shape[-1] != f_m

    def pad(x, filters):
        x = x[:, ::stride, ::stride]
        return np.pad(x, ((0, 0),) * 3 + ((0, filters - x.shape[-1]),))

    def project(x, suffix):
        conv = model.get_layer(f"b_shortcut{suffix}_proj")
        kernel = np.asarray(conv.kernel)[0, 0]
        y = np.einsum("nhwc,cf->nhwf", x[:, ::stride, ::stride], kernel)
        return _np_bn(y, model.get_layer(f"b_shortcut{suffix}_proj_bn"),
                      training)

    if block.outer_shortcut == "residual":
        if stride == 1 and r.shape[-1] == f_r:
            return r, None
        return (project(r, "") if block.projection else pad(r, f_r)), None
    if not reshapes:
        return r, m
    if block.projection:
        x = np.concatenate([r, m], -1)
        return project(x, ""), project(x, "_transient")
    return pad(r, f_r), pad(m, f_m)


def _np_block(block, model, r, m, widths, stride, training):
    r_in, m_in = np.asarray(r, np.float64), np.asarray(m, np.float64)
    outer = None
    if block.outer_shortcut is not None:
        outer = _np_outer(block, model, r_in, m_in, widths, stride,
                          training)
    inside = outer is not None and block.outer_join == "pre_relu"
    for i in range(1, block.layers + 1):
        layer = model.get_layer(f"b_rir{i}")
        w = {v.path.split("/")[-1]: np.asarray(v) for v in layer.weights}
        c_r, f_r = r.shape[-1], layer.filters_r
        kernel = w["kernel"]
        last = i == block.layers
        adds = outer if last and inside else (None, None)
        r, m = ref.rir_conv(
            r, m,
            w_rr=kernel[:, :, :c_r, :f_r], w_mr=kernel[:, :, c_r:, :f_r],
            w_rm=kernel[:, :, :c_r, f_r:], w_mm=kernel[:, :, c_r:, f_r:],
            stride=layer.strides, shortcut=layer.shortcut,
            projection=w.get("shortcut_kernel", [[None]])[0][0],
            gamma=w["gamma"], beta=w["beta"], moving_mean=w["moving_mean"],
            moving_variance=w["moving_variance"], epsilon=layer.epsilon,
            training=training, residual_add=adds[0], transient_add=adds[1])
    if outer is not None and not inside:
        r = r + outer[0]
        m = m if outer[1] is None else m + outer[1]
    return r, m


BLOCKS = [
    # (block, (C_r, C_m), (F_r, F_m), stride)
    (s.RiRBlock(), (3, 4), (5, 6), 2),  # the paper's RiR, widening
    (s.RiRBlock(), (4, 4), (4, 4), 1),
    (s.RiRBlock(layers=3, inner_identity="fixed"), (4, 3), (4, 3), 1),
    (s.RiRBlock(inner_identity="fixed", outer_join="post_relu"), (3, 4),
     (5, 6), 2),  # this package's earlier RiR
    (s.RiRBlock(projection=True), (3, 4), (5, 6), 2),
    (s.RiRBlock(inner_identity=None, outer_shortcut="both"), (3, 4),
     (5, 6), 2),  # He et al.'s ResNet unit, option A
    (s.RiRBlock(inner_identity=None, outer_shortcut="both"), (4, 3),
     (4, 3), 1),
    (s.RiRBlock(inner_identity=None, outer_shortcut="both",
                projection=True), (3, 4), (5, 6), 2),  # option B
    (s.RiRBlock(inner_identity=None, outer_join="post_relu"), (3, 4),
     (5, 6), 2),  # the earlier "resnet" mode
    (s.RiRBlock(inner_identity="learnable", outer_shortcut=None), (3, 4),
     (5, 6), 2),  # ResNet Init
    (s.RiRBlock(inner_identity="learnable", outer_shortcut=None), (4, 3),
     (4, 3), 1),
    (s.RiRBlock(inner_identity=None, outer_shortcut=None), (4, 3),
     (4, 3), 1),  # CNN
    (s.RiRBlock(outer_join="post_relu"), (4, 3), (4, 3), 1),
]


@pytest.mark.parametrize("block, channels, widths, stride", BLOCKS)
def test_block_matches_numpy(block, channels, widths, stride):
    # The builders keep the streams joined, concat(r, m); the reference
    # works stream by stream.
    x_in = keras.Input((7, 8, sum(channels)))
    stage = s.StageSpec(widths[0], 1, stride, width=widths[1])
    previous = s.StageSpec(channels[0], 1, width=channels[1])
    out = parts.apply_block(block, x_in, stage, 0, previous, BuildContext(),
                            name="b")
    model = keras.Model(x_in, out)
    # Only the blocks that join after the ReLU, or change shape with a
    # fixed or projected shortcut or an outer shortcut over both streams,
    # run on split streams (and join them again); the others run RiRConv
    # on the joined tensor, a shape-changing one splitting off `r` for its
    # outer shortcut only.
    reshapes = stride != 1 or channels != widths
    on_streams = block.outer_join == "post_relu" or reshapes and (
        block.inner_identity == "fixed" or block.projection
        or block.outer_shortcut == "both")
    kinds = [type(layer) for layer in model.layers]
    assert (keras.layers.Concatenate in kinds) == on_streams
    assert (StreamSplit in kinds) == (on_streams or reshapes and (
        block.outer_shortcut is not None))
    rng = np.random.default_rng(5)
    for var in model.weights:
        name = var.path.split("/")[-1]
        if name in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, var.shape)
        else:
            value = rng.normal(0, 0.3, var.shape)
        var.assign(value.astype("float32"))
    r = rng.normal(size=(2, 7, 8, channels[0])).astype("float32")
    m = rng.normal(size=(2, 7, 8, channels[1])).astype("float32")
    for training in (False, True):
        want = _np_block(block, model, r, m, widths, stride, training)
        joined = keras.ops.convert_to_numpy(
            model(np.concatenate([r, m], -1), training=training))
        got = np.split(joined, [widths[0]], axis=-1)
        for a, b in zip(got, want):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        if block.outer_shortcut is not None and block.outer_join == "pre_relu":
            assert np.all(got[0] >= 0)  # the shortcut is inside the ReLU
        if block.outer_join == "post_relu":
            assert np.any(got[0] < 0)  # ... or added after it


@pytest.mark.parametrize("name", ["rir_net_32.fashion_mnist",
                                  "rir_resnet_32.fashion_mnist"])
def test_published_rir_weights_give_the_same_net_on_joined_streams(
        name, monkeypatch):
    # RiR-32's stage transitions run on the joined streams; ResNet's (an
    # outer shortcut over both streams) still split them. Either way the
    # published weights load and compute what the split formulation
    # computes, outputs and gradients, in training and inference.
    record = kr.weights_info(name)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    nets = {}
    for joined in (True, False):
        monkeypatch.setattr(parts, "_JOIN_RESHAPING_RIR_BLOCKS", joined)
        nets[joined] = kr.create_model(record.arch, weights=record.tag)
    splits = {joined: sum(isinstance(layer, keras.layers.Concatenate)
                          for layer in net.layers)
              for joined, net in nets.items()}
    assert splits[False] == 3  # the stem's and both stage transitions'
    assert splits[True] == (1 if record.arch == "rir_net_32" else 3)
    for training in (False, True):
        got, want = (_logits(nets[j], x, training) for j in (True, False))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for a, b in zip(*(trainable_gradients(nets[j], x) for j in (True,
                                                               False))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------
# "No added cost": parameter counts of every registered RiR net


@pytest.mark.parametrize("key", kr.list_models(family="rir"))
def test_registered_rir_nets_have_their_counts(key):
    info = kr.model_info(key)
    model = kr.create_model(key, classes=info["params_classes"],
                            input_shape=(32, 32, 3))
    expected = 9_469_940 if key.endswith("_18_wide") else 464_154
    assert info["params"] == expected
    assert count_trainable(model) == expected


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(inner_identity="fixed"), 464_154),
        (dict(inner_identity="fixed", outer_join="post_relu"), 464_154),
        (dict(mode="resnet_residual_stream"), 464_154),
        (dict(mode="resnet_residual_stream", outer_join="post_relu"),
         464_154),
        # Option B where the shape changes: 2 inner 1x1s (8x16, 16x32) and
        # 2 outer 1x1s + BN (8x16 + 32, 16x32 + 64).
        (dict(shortcut="projection"), 464_154 + 640 + 736),
        (dict(mode="resnet", shortcut="projection"), 466_906),
    ],
)
def test_other_readings_counts(kwargs, expected):
    model = kr.RiRNet(classes=10, input_shape=(32, 32, 3), **kwargs)
    assert count_trainable(model) == expected


def test_readings_share_one_weight_structure():
    # The weight structure (what `.weights.h5` files depend on) of every
    # reading of a RiR-32 is the same: the readings differ in function,
    # not in weights.
    from keras_resvariants.weights.fingerprint import fingerprint

    prints = {
        fingerprint(kr.RiRNet32(input_shape=(28, 28, 1), classes=10,
                                **kwargs))
        for kwargs in (dict(inner_identity="fixed", outer_join="post_relu"),
                       dict())
    }
    assert len(prints) == 1


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(mode="cnn", shortcut="projection"), "shortcut"),
        (dict(mode="resnet_init", outer_join="post_relu"), "outer_join"),
        (dict(mode="resnet", inner_identity="fixed"), "inner_identity"),
        (dict(inner_identity="constant"), "inner_identity"),
        (dict(outer_join="inside"), "outer_join"),
        (dict(mode="resnet_v1"), "mode"),
    ],
)
def test_bad_readings_raise(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        kr.RiRNet(**kwargs)
