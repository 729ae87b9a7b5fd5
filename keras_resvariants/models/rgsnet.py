"""RGSNet: ReLU + GroupNorm ("RG") shortcuts instead of identities.

Reference: Zhang et al., "Revisiting Residual Networks with Nonlinear
Shortcuts", BMVC 2019. RG replaces identity shortcuts only, the post-add
ReLU is removed (f = identity) and a ReLU follows the last block.
`variant`: `"b"` (RG shortcut), `"d"` (b + an inner RG shortcut, which "is
added on the Conv (3x3)", around every stride-1 3x3), `"res"` (d + the
identity kept beside RG). GroupNorm groups scale with the width: G = 32 *
width ("When the width is set to 0.25x, we proportionally scale G to 8").

Stride placement (`stride_at`). The ImageNet nets default to `"middle"`,
the stride in the 3x3 (ResNet v1.5): "All the results in this paper are
produced with the PyTorch framework", whose reference ResNet-50 puts the
stride there; the paper's own "Original" ResNet-50 (Tables 1, 2: 23.81%
top-1, 7.14% top-5 error) is within 0.06 points of that reference's
published 23.87% / 7.14%, and the ResNet-50 and ResNet-101 rows of Table
10 ("as reported in the corresponding works": 24.01/7.02, 22.44/6.21) are
the Torch reference implementation's, which also strides the 3x3. With
`"middle"` the first block of stages 2-4 has a strided 3x3, so d- and
Res-RGSNet have no inner RG there (3 fewer than with `"first"`).
`"first"` (He et al.'s v1) remains available; the CIFAR-stem nets keep it
as their default.
"""

from keras_resvariants import _validation as v
from keras_resvariants.blocks import specs as s
from keras_resvariants.models._registry import register_arch
from keras_resvariants.models.resnet import bottleneck_net
from keras_resvariants.models.resnet import resnext29

PAPER = ("Zhang et al., Revisiting Residual Networks with Nonlinear "
         "Shortcuts, BMVC 2019")
VARIANTS = ("b", "d", "res")
_NAMES = {"b": "BRGSNet", "d": "DRGSNet", "res": "ResRGSNet"}


def rgs_parts(variant, groups):
    """Shortcut, body kwargs, post-ReLU flag and tail of an RGS variant."""
    v.check_choice("variant", variant, VARIANTS)
    v.check_positive_int("groups", groups)
    shortcut = s.Shortcut(identity=s.RGIdentity(
        groups=groups, keep_identity=variant == "res"))
    body = {} if variant == "b" else {"inner_rg_groups": groups}
    return dict(shortcut=shortcut, body_kwargs=body, post_relu=False,
                tail=(s.FinalReLU(),))


def rgsnet(depth, *, variant="res", width=1.0, stem="imagenet", groups=None,
           stride_at=None):
    """RGSNet spec; `stride_at=None` is `"middle"` with the ImageNet stem
    and `"first"` with the CIFAR one."""
    v.check_positive_float("width", width)
    if stride_at is None:
        stride_at = "middle" if stem == "imagenet" else "first"
    if groups is None:
        groups = 32 * width
        if groups != int(groups) or groups < 1:
            raise ValueError(
                "`width` must make 32 * width a whole number of GroupNorm "
                f"groups, or pass `groups`. Received: width={width!r}"
            )
        groups = int(groups)
    return bottleneck_net(depth, width=width, stem=stem,
                          stride_at=stride_at, **rgs_parts(variant, groups))


def rgs_resnext29(*, variant="res", groups=32, cardinality=8, base_width=64):
    return resnext29(cardinality=cardinality, base_width=base_width,
                     **rgs_parts(variant, groups))


# Trainable parameters with stride_at="middle" (the default) and "first":
# b is unchanged; d and res lose the 2 * (128 + 256 + 512) GroupNorm
# parameters of the inner RGs around the three strided 3x3s.
_IMAGENET_PARAMS = {"b": 25_579_560, "d": 25_585_320, "res": 25_585_320}
_IMAGENET_PARAMS_V1 = {"b": 25_579_560, "d": 25_587_112, "res": 25_587_112}
_WIDTH = ("float. Width multiplier (1 = ResNet-50 widths; the paper uses "
          "0.25 to 2).")
_GROUPS = ("int or None. GroupNorm groups; None = 32 * width.")
_STRIDE_AT = (
    "`'middle'` (a stage's stride in the 3x3 of its first bottleneck: "
    "ResNet v1.5, the paper's PyTorch baseline; d/Res get no inner RG "
    "around a strided 3x3) or `'first'` (in the first 1x1: ResNet v1)."
)
for _variant, _Name in _NAMES.items():
    _key = _Name.lower().replace("rgsnet", "_rgsnet")
    register_arch(
        f"{_key}_50", f"{_Name}50",
        lambda width, groups, stride_at, _variant=_variant: rgsnet(
            50, variant=_variant, width=width, groups=groups,
            stride_at=stride_at),
        family="rgs", paper=PAPER, table="Tables 1, 2, 10",
        description=(f"ImageNet {_variant}-RGSNet-50: ResNet-50 with RG "
                     "shortcuts, the stride in the 3x3 (v1.5, the paper's "
                     "PyTorch ResNet-50) by default."),
        default_size=224,
        hparams={"width": (1.0, _WIDTH), "groups": (None, _GROUPS),
                 "stride_at": ("middle", _STRIDE_AT)},
        expected_params=_IMAGENET_PARAMS[_variant], expected_classes=1000,
        paper_params=None if _variant == "d" else "25.6M",
    )
    register_arch(
        f"{_key}_resnext_29", f"{_Name}ResNeXt29",
        lambda groups, cardinality, base_width, _variant=_variant:
            rgs_resnext29(variant=_variant, groups=groups,
                          cardinality=cardinality, base_width=base_width),
        family="rgs", paper=PAPER, table="Table 5",
        description=(f"CIFAR ResNeXt-29 (8x64d) with {_variant}-RG "
                     "shortcuts."),
        default_size=32,
        hparams={"groups": (32, "int. GroupNorm groups."),
                 "cardinality": (8, "int. Groups of the 3x3 convs."),
                 "base_width": (64, "int. Channels per group.")},
        expected_params=None,
    )

register_arch(
    "rgsnet", "RGSNet",
    lambda depth, width, variant, stem, groups, stride_at: rgsnet(
        depth, variant=variant, width=width, stem=stem, groups=groups,
        stride_at=stride_at),
    family="rgs", paper=PAPER, table="Tables 3, 4, 8, 9, Fig. 4",
    description=("Any RGSNet of the paper's grids: b/d/Res variant, depths "
                 "26-152, widths 0.25-2, with the CIFAR stem (3x3 conv, no "
                 "max-pool; assumed: the paper does not describe it) or the "
                 "ImageNet one."),
    default_size=32,
    hparams={
        "depth": (26, "int. 26, 32, 38, 44, 50, 62, 77, 101 or 152."),
        "width": (1.0, _WIDTH),
        "variant": ("res", "`'b'`, `'d'` or `'res'` (Figure 3)."),
        "stem": ("cifar", "`'cifar'` or `'imagenet'`."),
        "groups": (None, _GROUPS),
        "stride_at": (None, "`'middle'`, `'first'` or None: " + _STRIDE_AT
                      + " None = `'middle'` with the ImageNet stem, "
                      "`'first'` with the CIFAR one."),
    },
)
