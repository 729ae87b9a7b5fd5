"""Plain baselines: CIFAR and ImageNet ResNets, SE-ResNets, ResNeXt-29.

Also the spec factories the variant families reuse: each variant is a
baseline factory called with other slot values.
"""

from keras_resvariants import _validation as v
from keras_resvariants.blocks import specs as s
from keras_resvariants.models._registry import register_arch
from keras_resvariants.models._registry import register_family
from keras_resvariants.recipes import Recipe

HE2016 = "He et al., Deep Residual Learning for Image Recognition, 2016"
SENET = "Hu et al., Squeeze-and-Excitation Networks, 2018"
RESNEXT = ("Xie et al., Aggregated Residual Transformations for Deep Neural "
           "Networks, 2017")

FAMILY = register_family(
    "resnet", __name__,
    title="ResNet",
    citation=HE2016,
    recipes=(
        Recipe(
            name="resnet",
            source="He et al. 2016, §4.2 CIFAR-10",
            learning_rate=0.1, batch_size=128, weight_decay=1e-4,
            iterations=64000, milestones=(32000, 48000),
            milestone_unit="iteration",
            notes="He et al. (2016) CIFAR recipe: SGD momentum 0.9, lr 0.1 "
                  "divided by 10 at 32k and 48k iterations, stop at 64k, "
                  "batch 128, weight decay 1e-4. Their 0.01 warm-up for "
                  "ResNet-110 is not applied.",
        ),
    ),
)

STRIDE_AT = ("first", "middle")
STRIDE_AT_DOC = (
    "`'first'` (the stride of a stage in the first 1x1 of its first "
    "bottleneck: He et al.'s ResNet v1) or `'middle'` (in the 3x3: ResNet "
    "v1.5, the layout of PyTorch's and Torch's reference ResNets)."
)

IMAGENET_LAYERS = {
    26: (2, 2, 2, 2),
    32: (2, 3, 3, 2),
    38: (3, 3, 3, 3),
    44: (3, 4, 4, 3),  # RGS Table 9's 44 layers; layout assumed (design.md)
    50: (3, 4, 6, 3),
    62: (3, 4, 10, 3),
    77: (3, 4, 15, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}


def cifar_basic(depth, *, body=s.BasicBody(), shortcut=s.Shortcut(),
                merge=s.AddMerge(), post_relu=True, seed=0):
    """He et al.'s CIFAR ResNet: 6n+2 layers, basic blocks, 16/32/64."""
    if (depth - 2) % 6 or depth < 8:
        raise ValueError(
            "`depth` of a CIFAR basic-block ResNet must be 6n+2 with n >= 1 "
            f"(20, 32, 44, 56, 110, ...). Received: depth={depth!r}"
        )
    n = (depth - 2) // 6
    return s.NetSpec(
        stem=s.CifarStem(16),
        stages=(s.StageSpec(16, n, 1), s.StageSpec(32, n, 2),
                s.StageSpec(64, n, 2)),
        block=s.ResidualBlock(body=body, shortcut=shortcut, merge=merge,
                              post_relu=post_relu),
        default_size=32,
        seed=seed,
    )


def cifar_bottleneck(depth, *, width=32, merge=s.AddMerge(), seed=0):
    """CIFAR bottleneck ResNet (RoR Table 2): 9n+2 layers, widths w/2w/4w
    with expansion 4, stem of width w, stride in the 3x3."""
    v.check_positive_int("width", width)
    if (depth - 2) % 9 or depth < 11:
        raise ValueError(
            "`depth` of a CIFAR bottleneck ResNet must be 9n+2 with n >= 1 "
            f"(56, 110, 164, ...). Received: depth={depth!r}"
        )
    n = (depth - 2) // 9
    return s.NetSpec(
        stem=s.CifarStem(width),
        stages=tuple(
            s.StageSpec(4 * width * f, n, 1 if f == 1 else 2, width=width * f)
            for f in (1, 2, 4)
        ),
        block=s.ResidualBlock(body=s.BottleneckBody(stride_at="middle"),
                              merge=merge),
        default_size=32,
        seed=seed,
    )


def resnext29(*, cardinality=8, base_width=64, se_reduction=None,
              merge=s.AddMerge(), shortcut=s.Shortcut(), post_relu=True,
              tail=(), body_kwargs=None, seed=0):
    """CIFAR ResNeXt-29 (C x Dd): 3 stages x 3 bottleneck blocks, inner
    widths C*D*(1,2,4), outputs 4*D*(1,2,4), stem of width D, stride in the
    grouped 3x3. `base_width=64, cardinality=8` is the 8x64d net; 32 the
    RoR paper's slim net."""
    v.check_positive_int("cardinality", cardinality)
    v.check_positive_int("base_width", base_width)
    return s.NetSpec(
        stem=s.CifarStem(base_width),
        stages=tuple(
            s.StageSpec(4 * base_width * f, 3, 1 if f == 1 else 2,
                        width=cardinality * base_width * f)
            for f in (1, 2, 4)
        ),
        block=s.ResidualBlock(
            body=s.BottleneckBody(groups=cardinality, stride_at="middle",
                                  se_reduction=se_reduction,
                                  **(body_kwargs or {})),
            shortcut=shortcut,
            merge=merge,
            post_relu=post_relu,
        ),
        tail=tail,
        default_size=32,
        seed=seed,
    )


def bottleneck_net(depth, *, width=1.0, stem="imagenet", body_kwargs=None,
                   shortcut=s.Shortcut(), merge=s.AddMerge(), post_relu=True,
                   tail=(), seed=0, stride_at="first"):
    """4-stage bottleneck ResNet.

    `stem="imagenet"`: 7x7/2 conv + max-pool, strides (1, 2, 2, 2), 224
    input. `stem="cifar"`: 3x3 conv of width 64w, no pool, 32 input (RGS
    CIFAR nets). Widths 64w*(1, 2, 4, 8), outputs 4x. `stride_at`:
    `"first"` puts a stage's stride in the first 1x1 of its first block
    (He et al.'s ResNet v1), `"middle"` in the 3x3 (ResNet v1.5).
    """
    stride_at = v.check_choice("stride_at", stride_at, STRIDE_AT)
    if depth not in IMAGENET_LAYERS:
        raise ValueError(
            "`depth` must be one of "
            f"{', '.join(map(str, IMAGENET_LAYERS))}. Received: "
            f"depth={depth!r}"
        )
    if stem not in ("imagenet", "cifar"):
        raise ValueError(
            "`stem` must be 'imagenet' or 'cifar'. Received: "
            f"stem={stem!r}"
        )
    base = _scaled(64, width)
    return s.NetSpec(
        stem=s.ImageNetStem(base) if stem == "imagenet" else s.CifarStem(base),
        stages=tuple(
            s.StageSpec(4 * base * f, n, 1 if f == 1 else 2, width=base * f)
            for f, n in zip((1, 2, 4, 8), IMAGENET_LAYERS[depth])
        ),
        block=s.ResidualBlock(
            body=s.BottleneckBody(stride_at=stride_at,
                                  **(body_kwargs or {})),
            shortcut=shortcut,
            merge=merge,
            post_relu=post_relu,
        ),
        tail=tail,
        default_size=224 if stem == "imagenet" else 32,
        seed=seed,
    )


def _scaled(channels, width):
    if not isinstance(width, (int, float)) or isinstance(width, bool) or (
        width <= 0
    ):
        raise ValueError(
            f"`width` must be a positive number (a width multiplier, e.g. "
            f"0.25, 0.5, 1, 2). Received: width={width!r}"
        )
    scaled = channels * width
    if scaled != int(scaled) or scaled < 1:
        raise ValueError(
            f"`width` must give whole channel counts: {channels} * width "
            f"= {scaled}. Received: width={width!r}"
        )
    return int(scaled)


# --------------------------------------------------------------------------
# Registrations

_CIFAR_BASIC_PARAMS = {20: 272_474, 32: 466_906, 44: 661_338, 56: 855_770,
                       110: 1_730_714}
_SE_RESNET_PARAMS = {20: 274_847, 32: 470_861, 44: 666_875, 56: 862_889,
                     110: 1_744_952}

for _d, _p in _CIFAR_BASIC_PARAMS.items():
    register_arch(
        f"resnet_{_d}", f"ResNet{_d}",
        lambda _d=_d: cifar_basic(_d),
        family="resnet", paper=HE2016, table="Res-SE-Net Table 1",
        description=(f"The {_d}-layer CIFAR ResNet (basic blocks, widths "
                     "16/32/64, 1x1-conv projections where the shape "
                     "changes): the Res-SE-Net paper's baseline."),
        default_size=32, hparams={}, expected_params=_p,
        paper_params=None,
    )
    register_arch(
        f"resnet_{_d}_no_bridge", f"ResNet{_d}NoBridge",
        lambda _d=_d: cifar_basic(
            _d, shortcut=s.Shortcut(projection=s.NoProjection())),
        family="resnet", paper=HE2016, table="Res-SE-Net Table 2",
        description=(f"The {_d}-layer CIFAR ResNet without bridge "
                     "connections: blocks that change shape have no "
                     "shortcut (the Res-SE-Net paper's ablation)."),
        default_size=32, hparams={},
    )
    register_arch(
        f"se_resnet_{_d}", f"SEResNet{_d}",
        lambda _d=_d: cifar_basic(_d, body=s.BasicBody(se_reduction=16)),
        family="resnet", paper=SENET, table="Res-SE-Net Table 4",
        description=(f"The {_d}-layer CIFAR SE-ResNet: squeeze-and-"
                     "excitation (r=16) on the residual of every block."),
        default_size=32, hparams={}, expected_params=_SE_RESNET_PARAMS[_d],
    )

_WIDTH_DOC = ("int. Width w of the first stage (32 = the RoR paper's full "
              "nets, 16 = its slim nets).")
_BOTTLENECK_PARAMS = {56: 2_341_290, 110: 4_550_826, 164: 6_760_362}
for _d, _p in _BOTTLENECK_PARAMS.items():
    register_arch(
        f"resnet_{_d}_bottleneck", f"ResNet{_d}Bottleneck",
        lambda width, _d=_d: cifar_bottleneck(_d, width=width),
        family="resnet", paper=HE2016, table="RoR Table 2",
        description=(f"The {_d}-layer CIFAR bottleneck ResNet (9n+2 layers, "
                     "expansion 4): the RoR paper's baseline."),
        default_size=32, hparams={"width": (32, _WIDTH_DOC)},
        expected_params=_p,
        paper_params={56: "2.3M", 110: "4.6M", 164: "6.8M"}[_d],
        paper_macs={56: "0.34G", 110: "0.66G", 164: "0.99G"}[_d],
    )

_RESNEXT_HPARAMS = {
    "cardinality": (8, "int. Groups of the 3x3 convs."),
    "base_width": (64, "int. Channels per group in the first stage (64 = "
                       "8x64d; 32 = the RoR paper's slim net)."),
}
register_arch(
    "resnext_29", "ResNeXt29",
    lambda cardinality, base_width: resnext29(cardinality=cardinality,
                                              base_width=base_width),
    family="resnet", paper=RESNEXT, table="RoR Table 2",
    description="CIFAR ResNeXt-29 (8x64d by default).",
    default_size=32, hparams=_RESNEXT_HPARAMS, expected_params=34_426_698,
    paper_params="34.4M", paper_macs="5.32G",
)
register_arch(
    "se_resnext_29", "SEResNeXt29",
    lambda cardinality, base_width: resnext29(
        cardinality=cardinality, base_width=base_width, se_reduction=16),
    family="resnet", paper=SENET, table="RoR Table 2",
    description=("CIFAR SE-ResNeXt-29: ResNeXt-29 with SE (r=16) on every "
                 "block's residual."),
    notes=("The RoR paper lists 34.4M parameters, the plain ResNeXt-29's "
           "count; SE with r=16 adds about 0.6M (docs/design.md)."),
    default_size=32, hparams=_RESNEXT_HPARAMS, paper_params="34.4M",
)

_IMAGENET_PARAMS = {50: 25_557_032, 101: 44_549_160}
for _d in (50, 101, 152):
    register_arch(
        f"resnet_{_d}", f"ResNet{_d}",
        lambda width, stride_at, _d=_d: bottleneck_net(
            _d, width=width, stride_at=stride_at),
        family="resnet", paper=HE2016, table="RoR Table 2 / RGS Table 2",
        description=(f"ImageNet ResNet-{_d}, v1 by default (stride in the "
                     "first 1x1 of a bottleneck, as the SeqConv and RoR "
                     "papers' FLOP counts imply); `stride_at='middle'` is "
                     "v1.5 (stride in the 3x3), the RGS paper's PyTorch "
                     "baseline."),
        notes=("`width=0.5` gives the RoR paper's slim ResNet-101s: 11.68M "
               "parameters against the paper's 11.3M (docs/design.md)."
               if _d == 101 else ""),
        default_size=224,
        hparams={"width": (1.0, "float. Width multiplier of every stage "
                                "and the stem."),
                 "stride_at": ("first", STRIDE_AT_DOC)},
        expected_params=_IMAGENET_PARAMS.get(_d), expected_classes=1000,
        paper_params={50: "25.6M", 101: "44.5M", 152: "60.2M"}[_d],
        paper_macs={50: "3.86G", 101: "7.58G", 152: "11.3G"}[_d],
    )

register_arch(
    "resnet_cifar", "ResNetCifar",
    lambda depth, width: bottleneck_net(depth, width=width, stem="cifar"),
    family="resnet", paper=HE2016, table="RGS Tables 3, 4, 8, 9",
    description=("The RGS paper's CIFAR-100 baseline: ResNet-50-style "
                 "bottleneck stages at any of its depths, behind a 3x3 stem "
                 "with no max-pool (stem assumed, docs/design.md)."),
    default_size=32,
    hparams={
        "depth": (26, "int. 26, 32, 38, 44, 50, 62, 77, 101 or 152."),
        "width": (1.0, "float. Width multiplier (1 = ResNet-50 widths; the "
                       "paper uses 0.25 to 2)."),
    },
)
