"""`stride_at` of the ImageNet bottleneck nets: v1 ("first") and v1.5
("middle"), checked against hand counts.

Moving a stage's stride from the first 1x1 to the 3x3 runs that 1x1 at the
input resolution (4x its output's pixels): `3 * H_out^2 * C_in * width`
more MACs per strided block, and no parameter changes, except that the
d-/Res-RGSNet inner RG (around stride-1 3x3s only) is skipped in those
blocks: `2 * width` GroupNorm parameters each.
"""

import pytest

import keras_resvariants as kr
from tests.testing import count_trainable

SIZE = 64
WIDTH = 0.25
# (H_out, C_in, width) of the first block of stages 2-4 at 64x64, width
# 0.25: the stem divides by 4, and each stage by 2.
STRIDED = [(8, 64, 32), (4, 128, 64), (2, 256, 128)]


def _build(builder, stride_at, **kwargs):
    return getattr(kr, builder)(
        input_shape=(SIZE, SIZE, 3), classes=10, width=WIDTH,
        stride_at=stride_at, **kwargs)


@pytest.mark.parametrize(
    "builder, kwargs, inner_rg",
    [
        ("ResNet50", {}, False),
        ("BRGSNet50", {}, False),
        ("DRGSNet50", {}, True),
        ("RGSNet", dict(depth=50, variant="res", stem="imagenet"), True),
    ],
)
def test_stride_placement_params_and_macs(builder, kwargs, inner_rg):
    v1 = _build(builder, "first", **kwargs)
    v15 = _build(builder, "middle", **kwargs)
    for stage in (2, 3, 4):
        first = v1.get_layer(f"stage{stage}_block1_1_conv")
        middle = v15.get_layer(f"stage{stage}_block1_2_conv")
        assert first.strides == (2, 2) and middle.strides == (2, 2)
        assert v15.get_layer(f"stage{stage}_block1_1_conv").strides == (1, 1)
        assert v1.get_layer(f"stage{stage}_block1_2_conv").strides == (1, 1)
    rgs = [[layer for layer in model.layers if layer.name.endswith("_2_rg")]
           for model in (v1, v15)]
    assert [len(r) for r in rgs] == ([16, 13] if inner_rg else [0, 0])
    skipped = sum(2 * width for _, _, width in STRIDED) if inner_rg else 0
    assert count_trainable(v1) - count_trainable(v15) == skipped
    extra = sum(3 * h * h * c_in * width for h, c_in, width in STRIDED)
    assert kr.count_macs(v15) - kr.count_macs(v1) == extra


def test_defaults():
    # ResNet-50: v1 (the SeqConv and RoR papers' FLOPs); the RGS ImageNet
    # nets: v1.5 (the paper's PyTorch baseline); CIFAR-stem RGSNets: v1.
    assert kr.model_info("resnet_50")["hyperparameters"]["stride_at"] == (
        "first")
    for key in ("b_rgsnet_50", "d_rgsnet_50", "res_rgsnet_50"):
        assert kr.model_info(key)["hyperparameters"]["stride_at"] == "middle"
    assert kr.model_info("rgsnet")["hyperparameters"]["stride_at"] is None
    cifar = kr.RGSNet(width=WIDTH, variant="d", input_shape=(32, 32, 3),
                      classes=10)
    assert cifar.get_layer("stage2_block1_1_conv").strides == (2, 2)
    imagenet = kr.RGSNet(width=WIDTH, variant="d", stem="imagenet",
                         input_shape=(SIZE, SIZE, 3), classes=10)
    assert imagenet.get_layer("stage2_block1_2_conv").strides == (2, 2)


def test_bad_stride_at_raises():
    for builder in ("ResNet50", "ResRGSNet50", "RGSNet"):
        with pytest.raises(ValueError, match="`stride_at`"):
            getattr(kr, builder)(stride_at="last")
