"""Known equivalences between families, checked with shared weights."""

import keras
import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants.layers import BridgeSE
from keras_resvariants.layers import RoRAdd


def _copy_by_name(src, dst):
    """Copies weights layer by layer, matched by (stable) layer name."""
    copied = 0
    for layer in src.layers:
        if layer.weights:
            dst.get_layer(layer.name).set_weights(layer.get_weights())
            copied += 1
    return copied


def _images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _outputs(model, x, training):
    return keras.ops.convert_to_numpy(model(x, training=training))


@pytest.mark.parametrize("training", [False, True])
def test_ror_ratio0_drop0_is_plain_resnet(training):
    kwargs = dict(width=16, input_shape=(16, 16, 3), classes=5)
    plain = kr.ResNet56Bottleneck(**kwargs)
    ror = kr.RoRResNet56(represent_ratio=0.0, drop_rate=0.0, **kwargs)
    assert _copy_by_name(plain, ror) > 0
    x = _images((4, 16, 16, 3))
    np.testing.assert_allclose(_outputs(ror, x, training),
                               _outputs(plain, x, training),
                               rtol=1e-5, atol=1e-6)


def test_sdepth_inference_is_resnet_with_residuals_scaled():
    # Ratio 0 is stochastic depth: at inference every residual is scaled by
    # 1 - p. In the plain net, scaling the residual's last BN (gamma, beta)
    # by 1 - p does the same thing.
    p = 0.3
    kwargs = dict(width=16, input_shape=(16, 16, 3), classes=5)
    plain = kr.ResNet56Bottleneck(**kwargs)
    sdepth = kr.SDepthResNet56(drop_rate=p, **kwargs)
    _copy_by_name(plain, sdepth)
    for layer in plain.layers:
        if layer.name.endswith("_3_bn"):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma * (1 - p), beta * (1 - p), mean, var])
    x = _images((4, 16, 16, 3))
    np.testing.assert_allclose(_outputs(sdepth, x, False),
                               _outputs(plain, x, False),
                               rtol=1e-4, atol=1e-5)


def test_ror_ratio1_drops_every_shortcut():
    # All-Represent: each block outputs ReLU(F(x)) — a plain network. So
    # zeroing every residual's last BN makes the output independent of x.
    model = kr.RoRResNet56(represent_ratio=1.0, drop_rate=0.0, width=16,
                           input_shape=(16, 16, 3), classes=5)
    for layer in model.layers:
        if layer.name.endswith("_3_bn"):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma * 0, beta * 0, mean, var])
    a = _outputs(model, _images((2, 16, 16, 3), 1), False)
    b = _outputs(model, _images((2, 16, 16, 3), 2), False)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_ror_blocks_get_distinct_seeded_splits():
    model = kr.RoRResNet56(width=16, seed=7, input_shape=(16, 16, 3))
    merges = [layer for layer in model.layers if isinstance(layer, RoRAdd)]
    assert len(merges) == 18  # every block, projection blocks included
    seeds = [layer.seed for layer in merges]
    assert seeds == list(range(7, 7 + 18))
    again = kr.RoRResNet56(width=16, seed=7, input_shape=(16, 16, 3))
    for a, b in zip(merges, [layer for layer in again.layers
                             if isinstance(layer, RoRAdd)]):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(a.refine_mask),
            keras.ops.convert_to_numpy(b.refine_mask))


@pytest.mark.parametrize("builder", ["ResSENet20", "ResSENet56"])
def test_bridge_se_only_on_projection_shortcuts(builder):
    model = getattr(kr, builder)(input_shape=(32, 32, 3), classes=10)
    projections = [layer for layer in model.layers
                   if layer.name.endswith("_shortcut_proj")]
    ses = [layer for layer in model.layers if isinstance(layer, BridgeSE)]
    assert len(projections) == 2  # the two bridges of a CIFAR ResNet
    assert len(ses) == len(projections)
    for se in ses:
        producers = [layer for layer in model.layers
                     if layer.output is se.input]
        assert [p.name[-len("_shortcut_proj_bn"):] for p in producers] == [
            "_shortcut_proj_bn"]


def test_res_se_net_with_reduction_is_resnet_plus_se_params():
    plain = kr.ResNet20(classes=10)
    se = kr.ResSENet20(classes=10, reduction=4)
    extra = sum(2 * c * (c // 4) + c // 4 + c for c in (32, 64))
    assert se.count_params() - plain.count_params() == extra
