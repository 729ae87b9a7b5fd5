"""Trainable-parameter counts against the papers' tables.

The numbers are the faithful-build counts of docs/design.md (each family's
counts under docs/design.md#reading-of-each-paper; the papers print them
rounded: "25.6M"); each must hold within 0.5%, and in practice
matches exactly. Trainable weights only: BN moving statistics and the RoR
split are not parameters in the papers' (PyTorch) counts.
"""

import keras
import pytest

import keras_resvariants as kr
from tests.testing import count_trainable


def _shapes_only(builder, **kwargs):
    """`kr.<builder>(**kwargs)` with its variables created but never
    initialised (a `keras.StatelessScope` that does not initialise at exit):
    the same layers and weight shapes, hence the same counts, as a normal
    build, without drawing 25-45M initial values (ResNet-101: 2.3 -> 0.4
    CPU-s). The conftest's `clear_session` drops the uninitialised
    variables after the test."""
    with keras.StatelessScope(initialize_variables=False):
        return getattr(kr, builder)(**kwargs)


# (builder, kwargs, classes, trainable params, source)
TABLE = [
    ("SeqResNeXt24", {}, 1000, 26_211_784, "SeqConv Table 2: 26.2M"),
    ("SeqResNetB42", {}, 1000, 25_642_696, "SeqConv Table 2: 25.6M"),
    ("SeqResNetB22", {}, 1000, 11_859_656, "SeqConv Table 2: 11.8M"),
    ("SeqResNet", dict(k=8, r=4, blocks_per_stage=1), 10, 1_233_370,
     "SeqConv Table 3: 1.2M"),
    ("SeqResNet", dict(k=16, r=10, blocks_per_stage=1), 10, 7_627_354,
     "SeqConv Table 3: 7.6M"),
    ("SeqResNetB", dict(k=16, r=7, blocks_per_stage=1), 10, 843_834,
     "SeqConv Table 3: 0.8M"),
    ("SeqResNetB", dict(k=16, r=7, blocks_per_stage=1), 100, 874_164,
     "SeqConv Table 3 (C100)"),
    ("SeqResNetB", dict(k=32, r=12, blocks_per_stage=3), 10, 6_029_658,
     "SeqConv Table 3: 6.0M"),
    ("SeqResNetS2", {}, 10, 1_229_658, "SeqConv Table 5: 1.2M"),
    ("SeqResNetS3", {}, 10, 1_254_106, "SeqConv Table 5: 1.3M"),
    ("SeqResNetS4", {}, 10, 1_256_154, "SeqConv Table 5: 1.3M"),
    ("ResNet20", {}, 10, 272_474, "Res-SE-Net Table 1"),
    ("ResNet32", {}, 10, 466_906, "Res-SE-Net Table 1"),
    ("ResNet44", {}, 10, 661_338, "Res-SE-Net Table 1"),
    ("ResNet56", {}, 10, 855_770, "Res-SE-Net Table 1"),
    ("ResNet110", {}, 10, 1_730_714, "Res-SE-Net: 61.75% above R-S-N-44"),
    ("SEResNet110", {}, 10, 1_744_952, "Res-SE-Net: 62.06% above R-S-N-44"),
    ("ResSENet20", {}, 10, 273_216, "docs/design.md#res_se"),
    ("ResSENet32", {}, 10, 467_648, "docs/design.md#res_se"),
    ("ResSENet44", {}, 10, 662_080, "Res-SE-Net §6 percentages"),
    ("ResSENet44", {}, 100, 667_930, "docs/design.md#res_se (C100)"),
    ("ResSENet56", {}, 10, 856_512, "docs/design.md#res_se"),
    ("ResSENet110", {}, 10, 1_731_456, "docs/design.md#res_se"),
    ("RoRResNet56", {}, 10, 2_341_290, "RoR Table 2: 2.3M"),
    ("RoRResNet110", {}, 10, 4_550_826, "RoR Table 2: 4.6M"),
    ("RoRResNet164", {}, 10, 6_760_362, "RoR Table 2: 6.8M"),
    ("RoRResNet56", dict(width=16), 10, 591_322, "RoR Table 2: 0.6M"),
    ("RoRResNet110", dict(width=16), 10, 1_147_738, "RoR Table 2: 1.2M"),
    ("RoRResNet164", dict(width=16), 10, 1_704_154, "RoR Table 2: 1.7M"),
    ("ResNet164Bottleneck", dict(width=16), 100, 1_727_284,
     "docs/design.md#ror"),
    ("ResNeXt29", {}, 10, 34_426_698, "RoR Table 2: 34.4M"),
    ("RoRResNeXt29", {}, 10, 34_426_698, "RoR Table 2: 34.4M"),
    ("ResNeXt29", dict(base_width=32), 100, 8_670_212, "RoR slim: 8.6M"),
    ("SEResNeXt29", {}, 100, 35_040_756,
     "docs/design.md#ror (paper 34.4M)"),
    ("ResNet101", {}, 1000, 44_549_160, "RoR Table 2: 44.5M"),
    ("RoRResNet101", {}, 1000, 44_549_160, "RoR Table 2: 44.5M"),
    ("ResNet101", dict(width=0.5), 1000, 11_678_728,
     "docs/design.md#ror (paper 11.3M)"),
    ("ResNet50", {}, 1000, 25_557_032, "keras.applications ResNet50"),
    ("ResNet50", dict(stride_at="middle"), 1000, 25_557_032,
     "torchvision ResNet-50 (v1.5): 25,557,032"),
    ("BRGSNet50", {}, 1000, 25_579_560, "RGS Table 2: 25.6M"),
    ("BRGSNet50", dict(stride_at="first"), 1000, 25_579_560,
     "RGS Table 2: 25.6M"),
    # v1.5 (the default): no inner RG around the 3 strided 3x3s.
    ("DRGSNet50", {}, 1000, 25_585_320, "v1 count - 2 * (128 + 256 + 512)"),
    ("DRGSNet50", dict(stride_at="first"), 1000, 25_587_112,
     "docs/design.md#rgs"),
    ("ResRGSNet50", {}, 1000, 25_585_320, "RGS Table 2: 25.6M"),
    ("ResRGSNet50", dict(stride_at="first"), 1000, 25_587_112,
     "RGS Table 2: 25.6M"),
    ("ResNetCifar", dict(depth=26, width=0.25), 100, 928_564,
     "docs/design.md#rgs"),
    ("RGSNet", dict(depth=26, width=0.25), 100, 931_444,
     "docs/design.md#rgs"),
    ("RGSNet", dict(depth=26, width=0.5), 100, 3_601_028,
     "docs/design.md#rgs"),
    ("RGSNet", dict(depth=26, width=1.0), 100, 14_154_916,
     "docs/design.md#rgs"),
    ("ResNetCifar", dict(depth=38, width=1.0), 100, 20_073_636,
     "docs/design.md#rgs"),
    ("RGSNet", dict(depth=38, width=1.0), 100, 20_094_756,
     "docs/design.md#rgs"),
    ("RGSNet", dict(depth=50, width=0.25), 100, 1_537_876,
     "docs/design.md#rgs"),
    ("RiRNet32", {}, 10, 464_154, "RiR Table 1: = ResNet-32, 0.46M"),
    ("RiRNet18Wide", {}, 10, 9_469_940, "docs/design.md#rir"),
]


@pytest.mark.parametrize(
    "builder,kwargs,classes,expected,source",
    TABLE,
    ids=[f"{b}-{k}-{c}" if k else f"{b}-{c}" for b, k, c, _, _ in TABLE],
)
def test_trainable_params_match_paper(builder, kwargs, classes, expected,
                                      source):
    model = _shapes_only(builder, classes=classes, **kwargs)
    count = count_trainable(model)
    assert abs(count - expected) <= 0.005 * expected, (count, expected,
                                                       source)


def test_res_se_net_44_percentages_match_paper():
    # Res-SE-Net §6: Res-SE-Net-44 has 61.75% / 62.06% fewer parameters
    # than ResNet-110 / SE-ResNet-110 — an exact, independent check.
    ours = count_trainable(_shapes_only("ResSENet44", classes=10))
    resnet = count_trainable(_shapes_only("ResNet110", classes=10))
    se = count_trainable(_shapes_only("SEResNet110", classes=10))
    assert round(100 * (1 - ours / resnet), 2) == 61.75
    assert round(100 * (1 - ours / se), 2) == 62.06


@pytest.mark.parametrize("variant", ["b", "d", "res"])
def test_rgs_formula_over_depths(variant):
    # docs/design.md#rgs: b adds 2*sum(identity-shortcut channels); d and
    # res add 2*sum(bottleneck widths) on top.
    width = 0.25
    for depth in (26, 50):
        base = count_trainable(_shapes_only(
            "ResNetCifar", classes=100, depth=depth, width=width))
        rgs = count_trainable(_shapes_only(
            "RGSNet", classes=100, depth=depth, width=width,
            variant=variant))
        layers = kr.models.resnet.IMAGENET_LAYERS[depth]
        p = [int(64 * width * f) for f in (1, 2, 4, 8)]
        identity = sum(2 * 4 * pw * (n - 1) for pw, n in zip(p, layers))
        inner = sum(2 * pw * n for pw, n in zip(p, layers))
        expected = identity + (0 if variant == "b" else inner)
        assert rgs - base == expected


# (builder, kwargs, MACs per image at the default size, source). The
# figures without a paper behind them are the conv + dense MACs that
# docs/design.md#reading-of-each-paper records for each family, given to
# 3-4 significant digits, hence the 0.5% tolerance.
MACS = [
    ("SeqResNeXt24", {}, 4.544e9, "docs/design.md#seqconv (paper 4.32G)"),
    ("SeqResNetB22", {}, 2.883e9, "docs/design.md#seqconv (paper 2.73G)"),
    ("SeqResNet", {}, 0.282e9, "docs/design.md#seqconv"),
    ("SeqResNetB", dict(k=32, r=12, blocks_per_stage=3), 1.42e9,
     "docs/design.md#seqconv"),
    ("RoRResNet56", {}, 0.348e9, "RoR Table 2: 0.34G"),
    ("RoRResNet164", dict(width=16), 0.248e9, "RoR Table 2: 0.25G"),
    ("ResNeXt29", {}, 5.387e9, "RoR Table 2: 5.32G"),
    ("ResNet101", {}, 7.570e9, "RoR Table 2: 7.58G"),
    ("ResNet50", {}, 3.858e9, "He et al.: 3.86G"),
    ("ResNet50", dict(stride_at="middle"), 4.089e9,
     "torchvision ResNet-50 (v1.5): 4.09G"),
    ("ResRGSNet50", {}, 4.089e9, "RGS: v1.5 ResNet-50's, unchanged"),
    ("ResRGSNet50", dict(stride_at="first"), 3.858e9, "RGS: unchanged"),
    ("ResSENet110", {}, 0.253e9, "docs/design.md#res_se"),
    ("RiRNet32", {}, 0.069e9, "docs/design.md#rir"),
    ("RiRNet18Wide", {}, 1.28e9, "docs/design.md#rir"),
]


@pytest.mark.parametrize(
    "builder,kwargs,expected,source", MACS,
    ids=[f"{m[0]}-{m[1]}" if m[1] else m[0] for m in MACS])
def test_macs_match_spec(builder, kwargs, expected, source):
    size = kr.model_info(builder)["default_input_shape"][0]
    model = _shapes_only(builder, classes=1000 if size == 224 else 10,
                         **kwargs)
    macs = kr.count_macs(model)
    assert abs(macs - expected) <= 0.005 * expected, (macs, expected, source)


def test_macs_counts_grouped_and_dense_layers_by_hand():
    # A 2-layer net counted by hand: conv 3x3 (3->8) on 8x8, grouped conv
    # 3x3 (8->8, groups 4), global pool, dense 8->5.
    import keras

    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(8, 3, padding="same")(x)
    y = keras.layers.Conv2D(8, 3, padding="same", groups=4)(y)
    y = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(y))
    model = keras.Model(x, y)
    assert kr.count_macs(model) == 64 * 9 * 3 * 8 + 64 * 9 * 2 * 8 + 8 * 5
