"""The keras.applications contract, over every registered model.

Parametrised by `list_models()`, so a newly registered network is tested
automatically. Inputs are tiny: the smallest spatial size the network
accepts (its total stride) or a small multiple.
"""

import math
import re

import keras
import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants.models._registry import _entry
from tests.testing import assert_all_trainable_weights_get_gradients

# The deepest and widest variants (depth >= 101, ResNeXt-29's 34M) run the
# matrix only with `-m slow`: the suite has 2 cores and 25 minutes. Their
# parameter counts stay in CI (test_param_counts.py), and one network per
# family and per ImageNet family (ResNet50, RoRResNet101, the RGSNet50s,
# SeqResNeXt24, RoRResNeXt29) keeps the full matrix here.
IN_CI = {"ror_resnet_101", "ror_resnext_29"}
# The CIFAR basic ResNets (plain, without bridges, SE, Res-SE) at 32 and 44
# layers come from the same registration as their 20- and 56-layer
# siblings, with only the block count changed: 20 and 56 keep the matrix
# in CI, 32 and 44 run it with `-m slow` (their counts stay in CI).
DEPTH_SIBLINGS = {f"{prefix}_{depth}{suffix}"
                  for prefix, suffix in (("resnet", ""),
                                         ("resnet", "_no_bridge"),
                                         ("se_resnet", ""),
                                         ("res_se_net", ""))
                  for depth in (32, 44)}


def _heavy(key):
    if key in IN_CI:
        return False
    return (key in DEPTH_SIBLINGS or key == "seq_resnet_b42"
            or "resnext_29" in key
            or any(f"_{depth}" in key for depth in (101, 110, 152, 164)))


def _params(*values):
    marks = [pytest.mark.slow] if _heavy(values[0]) else []
    return pytest.param(*values, marks=marks, id="-".join(values))


MODELS = [_params(key) for key in kr.list_models()]
# `pooling="max"` is the same code for every network: one per family.
MAX_POOL_MODELS = ["resnet_20", "res_se_net_20", "ror_resnet_56", "rgsnet",
                   "rir_net_32", "rir_net_18_wide", "seq_resnet",
                   "seq_resnext_24"]


def _no_drop(key):
    # Drop-layer gates can switch a whole residual off for a step; the
    # gradient check wants every weight on the path, so it disables them.
    return {"drop_rate": 0.0} if "drop_rate" in _entry(key).defaults else {}


def _rng_images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")


@pytest.mark.parametrize("key", MODELS)
def test_notop_any_channels_and_sizes(key):
    entry = _entry(key)
    model = entry.builder(include_top=False, input_shape=(None, None, 1))
    assert model.input.shape[1:] == (None, None, 1)
    stride = _min_size(key)
    for h, w in ((stride, stride + 3), (2 * stride + 1, stride)):
        out = model(_rng_images((2, h, w, 1)), training=False)
        out = keras.ops.convert_to_numpy(out)
        assert out.ndim == 4
        assert out.shape[1:3] == (math.ceil(h / stride),
                                  math.ceil(w / stride))
        assert np.all(np.isfinite(out))
    names = [layer.name for layer in model.layers]
    assert len(set(names)) == len(names)
    assert any(n.startswith("stem") for n in names)
    stages = {n.split("_")[0] for n in names if n.startswith("stage")}
    for stage in stages:
        assert f"{stage}_out" in names


@pytest.mark.parametrize(
    "key,pooling",
    [_params(key, "avg") for key in kr.list_models()]
    + [_params(key, "max") for key in MAX_POOL_MODELS],
)
def test_pooling_four_channels(key, pooling):
    entry = _entry(key)
    size = 2 * _min_size(key)
    model = entry.builder(include_top=False, input_shape=(size, size, 4),
                          pooling=pooling)
    assert model.layers[-1].name == f"{pooling}_pool"
    out = keras.ops.convert_to_numpy(
        model(_rng_images((2, size, size, 4)), training=False))
    assert out.ndim == 2 and out.shape[0] == 2
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("key", MODELS)
def test_top_from_preceding_layer_and_activation(key):
    entry = _entry(key)
    size = 2 * _min_size(key)
    image = keras.Input((size, size, 3), name="raw")
    scaled = keras.layers.Rescaling(1 / 255.0, name="scale")(image)
    probs = entry.builder(input_tensor=scaled, classes=3)
    assert probs.inputs[0] is image  # source input, as keras.applications
    assert probs.layers[-1].name == "predictions"
    assert probs.output.shape == (None, 3)
    raw = keras.Input((size, size, 3))
    logits = entry.builder(
        input_tensor=keras.layers.Rescaling(1 / 255.0)(raw), classes=3,
        classifier_activation=None)
    logits.set_weights(probs.get_weights())
    x = _rng_images((2, size, size, 3), seed=1) * 255
    p = keras.ops.convert_to_numpy(probs(x, training=False))
    z = keras.ops.convert_to_numpy(logits(x, training=False))
    softmax = np.exp(z - z.max(-1, keepdims=True))
    softmax /= softmax.sum(-1, keepdims=True)
    np.testing.assert_allclose(p, softmax, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("key", MODELS)
def test_gradients_and_keras_round_trip(key, tmp_path):
    entry = _entry(key)
    size = 2 * _min_size(key)
    model = entry.builder(input_shape=(size, size, 3), classes=3,
                          **_no_drop(key))
    x = _rng_images((4, size, size, 3))
    # SeqResNets zero-initialise each block's second SeqConv (SeqConv §4.2,
    # docs/design.md#seqconv),
    # which blocks the first one's gradient at step 0 by design; the
    # wiring check perturbs all-zero weights first.
    assert_all_trainable_weights_get_gradients(model, x, training=True,
                                               perturb_zero_weights=True)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    a = keras.ops.convert_to_numpy(model(x, training=False))
    b = keras.ops.convert_to_numpy(reloaded(x, training=False))
    assert np.all(np.isfinite(a))
    assert np.array_equal(a, b)
    assert [w.path for w in reloaded.weights] == [w.path for w in
                                                  model.weights]


def _min_size(key):
    return kr.model_info(key)["min_input_size"]


def test_depth_siblings_left_to_slow_are_registered_networks():
    # A renamed network would otherwise drop out of `DEPTH_SIBLINGS`
    # silently and run the full matrix again (or a typo mark nothing).
    assert DEPTH_SIBLINGS <= set(kr.list_models())
    # And the 20- and 56-layer networks of each keep the matrix in CI.
    for key in DEPTH_SIBLINGS:
        for depth in (20, 56):
            sibling = re.sub(r"_(32|44)(?=_|$)", f"_{depth}", key)
            assert sibling in kr.list_models() and not _heavy(sibling)
