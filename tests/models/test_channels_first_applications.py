"""The keras.applications contract in channels_first, one network per family.

keras.applications builds its networks in `keras.config.image_data_format()`;
so do the builders here. Every check compares the channels_first network
with the same network built in channels_last, with the same weights, on
the same data transposed (NumPy's `moveaxis`), or with itself after a
round trip: the matrix of test_applications_contract.py (1- and 4-channel
notop with free sizes, a 123x123 custom shape, `input_tensor` from a
preceding layer, `pooling="max"`, `classifier_activation`), `.keras`
reloads, and weights files (the published ones included) moving between
the formats. The input-shape validation reads `(channels, height, width)`
and says which format it assumed.

Runs on every backend (the JAX and torch runs are launched by
tests/test_other_backends.py, for the node it lists); the numerical checks
are skipped where the backend cannot run a channels_first convolution
(TensorFlow's CPU kernels without oneDNN), whose builds and error are
checked in a subprocess. In CI each matrix test runs on the networks whose
layers it exercises most (`_SLOW` lists the rest, run with `-m slow`).
"""

import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants.models._input_shape import resolve_input_shape
from keras_resvariants.models._registry import _entry
from keras_resvariants.weights import fingerprint
from keras_resvariants.weights import loading
from keras_resvariants.weights import registry
from tests.channels_first_helpers import image_data_format
from tests.channels_first_helpers import needs_channels_first_conv
from tests.channels_first_helpers import to_cf
from tests.channels_first_helpers import to_cl
from tests.models.test_applications_contract import _min_size
from tests.models.test_applications_contract import _rng_images
from tests.models.test_families_smoke import FAMILIES
from tests.testing import REPO_ROOT

# One network per family, with the smoke tests' small hyperparameters,
# and for the ImageNet-size net ResNet-50 at a quarter width (its 7x7/2
# stem conv and 3x3/2 max-pool; SeqResNeXt-24, whose eager TensorFlow
# calls take seconds, is built below and runs in the smoke tests).
NETS_TABLE = {family: FAMILIES[family] for family in
              ("res_se", "resnet", "rgs", "rir", "ror", "seqconv")}
NETS_TABLE["resnet50"] = ("ResNet50", dict(width=0.25))
# In CI each test runs on the networks whose layers it exercises most;
# everything else with `-m slow` (the suite has 2 cores: each network
# costs seconds per build). Every network runs at least one test in CI,
# every family's own layer the notop and custom-shape tests.
_SLOW = {
    "notop": {"resnet"},
    "custom": {"resnet", "ror"},
    # RoR's 27 blocks and RiR-32 (RiR-18-wide stands for it, with the
    # flatten-free head); RoRAdd's configs and files are checked in
    # tests/layers/test_channels_first.py.
    "top": {"ror", "rir", "resnet50"},
}


def _nets(test):
    return [
        pytest.param(f, marks=[pytest.mark.slow] if f in _SLOW[test] else [])
        for f in sorted(NETS_TABLE)
    ]


@pytest.fixture(autouse=True)
def _channels_last_around_each_test():
    keras.config.set_image_data_format("channels_last")
    yield
    keras.config.set_image_data_format("channels_last")


def _stride(family):
    """The smallest input size (the total stride) of a net of the table."""
    return _min_size(kr.model_info(NETS_TABLE[family][0])["key"])


def _size(family):
    """A small input size: twice the stride, at most 32."""
    return min(2 * _stride(family), max(_stride(family), 32))


def _build(family, data_format, **kwargs):
    builder, hparams = NETS_TABLE[family]
    with image_data_format(data_format):
        return getattr(kr, builder)(**hparams, **kwargs)


def _perturb(model, seed=0):
    """Moving statistics off their (0, 1) start and deliberately zero
    weights (SeqResNet's zero-initialised SeqConvs, BN betas) made small
    and random, so every layer of the network moves the outputs."""
    rng = np.random.default_rng(seed)
    for var in model.weights:
        name = var.path.split("/")[-1]
        value = keras.ops.convert_to_numpy(var)
        if name == "refine_mask":  # RoR's split: architecture
            continue
        if name == "moving_variance":
            value = rng.uniform(0.5, 1.5, value.shape)
        elif name == "moving_mean":
            value = 0.1 * rng.standard_normal(value.shape)
        elif not np.any(value):
            value = 0.01 * rng.standard_normal(value.shape)
        else:
            continue
        var.assign(value.astype(value.dtype))


def _pair(family, cl_shape, **kwargs):
    """The network in both formats, with the channels_last one's
    (perturbed) weights; `cl_shape` is the channels_last `input_shape`."""
    cl = _build(family, "channels_last", input_shape=cl_shape, **kwargs)
    cf_shape = (cl_shape[-1],) + tuple(cl_shape[:-1])
    cf = _build(family, "channels_first", input_shape=cf_shape, **kwargs)
    assert tuple(cf.input.shape) == (None,) + cf_shape
    # Kernels do not depend on the layout: the same weights, in the same
    # order, fit both.
    assert [tuple(w.shape) for w in cf.weights] == [
        tuple(w.shape) for w in cl.weights]
    _perturb(cl)
    cf.set_weights(cl.get_weights())
    return cl, cf


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _assert_close(got, expected):
    """Equal up to float32 reordering (each format's kernels sum in their
    own order), relative to the outputs' scale: deep nets' features reach
    hundreds, and a global max-pool picks between near ties."""
    expected = np.asarray(expected)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-4,
                               atol=max(1e-5 * scale, 1e-6))


def _assert_same_predictions(cl, cf, x):
    """`cf` on NCHW data equals `cl` on the NHWC data; returns the output."""
    expected = _predict(cl, x)
    got = _predict(cf, to_cf(x))
    assert got.shape == to_cf(expected).shape
    _assert_close(to_cl(got), expected)
    assert np.all(np.isfinite(got)) and np.std(got) > 0
    return got


@needs_channels_first_conv
@pytest.mark.parametrize("family", _nets("notop"))
def test_notop_one_channel_any_size(family):
    cl, cf = _pair(family, (None, None, 1), include_top=False)
    stride = _stride(family)
    h, w = stride + 1, 2 * stride - 1
    got = _assert_same_predictions(cl, cf, _rng_images((2, h, w, 1)))
    assert got.shape[2:] == (math.ceil(h / stride), math.ceil(w / stride))
    assert got.shape[1] == cl.output.shape[-1] == cf.output.shape[1]
    names = [layer.name for layer in cf.layers]
    assert names == [layer.name for layer in cl.layers]
    assert any(n.endswith("_out") for n in names)


@needs_channels_first_conv
@pytest.mark.parametrize("family", _nets("custom"))
def test_four_channels_custom_shape_and_max_pooling(family):
    cl, cf = _pair(family, (123, 123, 4), include_top=False, pooling="max")
    assert cf.layers[-1].name == "max_pool"
    got = _assert_same_predictions(cl, cf, _rng_images((1, 123, 123, 4)))
    assert got.ndim == 2


# The Dense head after global pooling (every family) and RiR-18-wide's
# flatten-free head (1x1 conv + BN to the classes, then global pooling).
NETS_TABLE["rir_wide"] = ("RiRNet18Wide", {})


@needs_channels_first_conv
@pytest.mark.parametrize("family", _nets("top"))
def test_top_input_tensor_activation_round_trip_and_weights_files(
        family, tmp_path):
    """`input_tensor` from a preceding layer, `classifier_activation=None`,
    a channels_last weights file into a channels_first builder
    (`weights=`), the `.keras` round trip, and a channels_first weights
    file back into the channels_last network."""
    size = _size(family)
    cl = _build(family, "channels_last", input_shape=(size, size, 3),
                classes=3)  # softmax
    _perturb(cl)
    cl_file = os.path.join(str(tmp_path), "cl.weights.h5")
    cl.save_weights(cl_file)
    with image_data_format("channels_first"):
        image = keras.Input((3, size, size), name="raw")
        scaled = keras.layers.Rescaling(1 / 255.0, name="scale")(image)
        logits = _build(family, "channels_first", input_tensor=scaled,
                        classes=3, classifier_activation=None,
                        weights=cl_file)
    assert logits.inputs[0] is image  # the source input, as keras.apps
    assert logits.layers[-1].name == "predictions"
    assert logits.output.shape == (None, 3)
    x = _rng_images((2, size, size, 3), seed=1)
    probs = _predict(cl, x)
    z = _predict(logits, to_cf(x) * 255)
    softmax = np.exp(z - z.max(-1, keepdims=True))
    softmax /= softmax.sum(-1, keepdims=True)
    np.testing.assert_allclose(softmax, probs, rtol=1e-4, atol=1e-6)
    assert not np.allclose(z.sum(-1), 1.0)  # no activation: logits
    # .keras: reloaded under the other global format, the same outputs.
    path = os.path.join(str(tmp_path), "cf.keras")
    logits.save(path)
    reloaded = keras.saving.load_model(path)
    assert np.array_equal(_predict(reloaded, to_cf(x) * 255), z)
    assert [w.path for w in reloaded.weights] == [w.path for w in
                                                  logits.weights]
    # The channels_first network's weights file into channels_last layers.
    cf_file = os.path.join(str(tmp_path), "cf.weights.h5")
    keras.Model(scaled, logits.output).save_weights(cf_file)
    cl.set_weights([np.zeros_like(w) for w in cl.get_weights()])
    cl.load_weights(cf_file)
    np.testing.assert_allclose(_predict(cl, x), probs, rtol=1e-4, atol=1e-6)


# Two published records in CI (a Dense head after BridgeSE bridges, and
# SeqConv's two streams); every other one with `-m slow`.
_RECORDS = registry._parse(registry.RECORDS_FILE)
_IN_CI = ("res_se_net_20.fashion_mnist", "seq_resnet.fashion_mnist")
PUBLISHED = [
    pytest.param(name, marks=[] if name in _IN_CI else [pytest.mark.slow])
    for name in sorted(_RECORDS)
]


@needs_channels_first_conv
@pytest.mark.parametrize("name", PUBLISHED)
def test_published_weights_fit_and_predict_alike_in_channels_first(name):
    """The published (channels_last) weight files: a channels_first build
    of their network has the recorded weight structure, loads them and
    predicts what the channels_last one does."""
    record = _RECORDS[name]
    builder = _entry(record.arch).builder
    h, w, c = record.input_shape
    path = os.path.join(loading.REPO_WEIGHTS_DIR, record.top.name)
    models = {}
    for data_format, shape in (("channels_last", (h, w, c)),
                               ("channels_first", (c, h, w))):
        with image_data_format(data_format):
            model = builder(**record.hyperparameters, classes=record.classes,
                            input_shape=shape)
        assert fingerprint(model) == record.top.fingerprint
        model.load_weights(path)
        models[data_format] = model
    x = _rng_images((2, h, w, c), seed=3)
    expected = _predict(models["channels_last"], x)
    _assert_close(_predict(models["channels_first"], to_cf(x)), expected)
    assert np.all(np.isfinite(expected)) and np.std(expected) > 0


def test_seq_resnext24_builds_in_channels_first():
    """The issue's example, on every backend (no convolution runs): the
    shape is read as (C, H, W), the features come out channels first, and
    the weight structure is channels_last's, so weights move between."""
    with image_data_format("channels_first"):
        cf = kr.SeqResNeXt24(include_top=False, input_shape=(3, 64, 64))
    cl = kr.SeqResNeXt24(include_top=False, input_shape=(64, 64, 3))
    assert tuple(cf.input.shape) == (None, 3, 64, 64)
    c, h, w = cf.output.shape[1:]
    assert tuple(cl.output.shape[1:]) == (h, w, c) == (2, 2, c)
    assert fingerprint(cf) == fingerprint(cl)


# ----------------------------------------------------------------------
# Input-shape validation: (C, H, W) in channels_first, and messages that
# name the format they assumed.


def _resolve(input_shape, data_format, input_tensor=None, include_top=False):
    return resolve_input_shape(input_shape, input_tensor, default_size=32,
                               min_size=32, include_top=include_top,
                               data_format=data_format)


def test_input_shape_is_read_in_the_global_format():
    assert _resolve((3, 64, 48), "channels_first") == (3, 64, 48)
    assert _resolve((1, None, None), "channels_first") == (1, None, None)
    assert _resolve(None, "channels_first") == (3, None, None)
    assert _resolve(None, "channels_first", include_top=True) == (3, 32, 32)
    assert _resolve(None, "channels_last", include_top=True) == (32, 32, 3)
    with image_data_format("channels_first"):  # None: the global format
        assert resolve_input_shape(None, None, default_size=32, min_size=4,
                                   include_top=True) == (3, 32, 32)
        tensor = keras.Input((4, 40, 40))
        model = kr.ResNet20(input_tensor=tensor, include_top=False)
    assert model.inputs[0] is tensor
    assert tuple(model.output.shape) == (None, 64, 10, 10)


@pytest.mark.parametrize("input_shape, data_format, words", [
    # channels_last shape under channels_first: width 3 is too small.
    ((64, 64, 3), "channels_first",
     ["height and width", ">= 32", "(channels, height, width)",
      "channels_first"]),
    ((3, 31, 64), "channels_first", ["height and width", "channels_first"]),
    ((None, 64, 64), "channels_first",
     ["channel count", "first axis", "channels_first"]),
    ((3, 64), "channels_first",
     ["(channels, height, width)", "channels_first"]),
    ((3, 64, 64), "channels_last",
     ["height and width", "(height, width, channels)", "channels_last"]),
    ((64, 64, None), "channels_last",
     ["channel count", "last axis", "channels_last"]),
])
def test_input_shape_errors_name_the_argument_and_the_format(
        input_shape, data_format, words):
    with pytest.raises(ValueError) as info:
        _resolve(input_shape, data_format)
    message = str(info.value)
    assert f"Received: input_shape={input_shape!r}" in message
    for word in words:
        assert word in message, (word, message)


def test_builder_errors_name_the_format():
    with image_data_format("channels_first"):
        # The message, now for a channels_last shape.
        with pytest.raises(ValueError, match="channels_first"):
            kr.SeqResNeXt24(include_top=False, input_shape=(64, 64, 3))
        with pytest.raises(ValueError, match=r"\(batch, channels, height"):
            kr.ResNet20(input_tensor=keras.Input((32, 32)))


# ----------------------------------------------------------------------
# TensorFlow's CPU kernels without oneDNN: channels_first builds, and the
# convolution's error says what is missing.


@pytest.mark.tf_only
def test_tensorflow_without_onednn_builds_and_fails_clearly():
    script = textwrap.dedent(
        """
        import keras
        import numpy as np
        import keras_resvariants as kr
        keras.config.set_image_data_format("channels_first")
        model = kr.ResNet20(include_top=False, input_shape=(3, 8, 8))
        print("BUILT", tuple(model.output.shape))
        try:
            model(np.zeros((1, 3, 8, 8), "float32"))
        except Exception as error:
            print("ERROR", type(error).__name__, str(error)[:2000])
        else:
            print("RAN")
        """
    )
    env = dict(os.environ, KERAS_BACKEND="tensorflow",
               TF_ENABLE_ONEDNN_OPTS="0", CUDA_VISIBLE_DEVICES="-1")
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", script], env=env,
                            capture_output=True, text=True, timeout=600)
    out = result.stdout
    assert result.returncode == 0, out[-2000:] + result.stderr[-3000:]
    assert "BUILT (None, 64, 2, 2)" in out, out
    if "RAN" in out:  # a TensorFlow build whose CPU kernels run NCHW
        return
    assert "ERROR" in out, out
    assert "NHWC" in out and "NCHW" in out, out


@needs_channels_first_conv
def test_weights_tag_and_macs_in_channels_first():
    # A published tag builds at the record's shape read in channels_first,
    # predicts what the channels_last model predicts on the transposed
    # images, and the MAC count does not depend on the layout.
    name = "res_se_net_20.fashion_mnist"
    record = registry.weights_info(name)
    x = _rng_images((2, *record.input_shape), seed=3)
    cl = kr.ResSENet20(weights="fashion_mnist")
    with image_data_format("channels_first"):
        cf = kr.ResSENet20(weights="fashion_mnist")
        assert cf.input_shape[1:] == (record.input_shape[-1],
                                      *record.input_shape[:2])
        np.testing.assert_allclose(_predict(cf, to_cf(x)), _predict(cl, x),
                                   rtol=1e-4, atol=1e-5)
        assert kr.count_macs(cf) == kr.count_macs(cl)
        with pytest.raises(ValueError, match="channels_first"):
            kr.ResSENet20(weights="fashion_mnist", input_shape=(3, 28, 28))
