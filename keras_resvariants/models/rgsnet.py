"""RGSNet: ReLU + GroupNorm ("RG") shortcuts instead of identities.

Reference: Zhang et al., "Revisiting Residual Networks with Nonlinear
Shortcuts", BMVC 2019. Placement follows spec §3.3 (no author code exists):
RG replaces identity shortcuts only, the post-add ReLU is removed (f =
identity) and a ReLU follows the last block. `variant`: `"b"` (RG
shortcut), `"d"` (b + an RG shortcut around every stride-1 3x3), `"res"`
(d + the identity kept beside RG). GroupNorm groups scale with the width:
G = 32 * width (spec §3.2).
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


def rgsnet(depth, *, variant="res", width=1.0, stem="imagenet", groups=None):
    if groups is None:
        groups = 32 * width
        if groups != int(groups) or groups < 1:
            raise ValueError(
                "`width` must make 32 * width a whole number of GroupNorm "
                f"groups, or pass `groups`. Received: width={width!r}"
            )
        groups = int(groups)
    return bottleneck_net(depth, width=width, stem=stem,
                          **rgs_parts(variant, groups))


def rgs_resnext29(*, variant="res", groups=32, cardinality=8, base_width=64):
    return resnext29(cardinality=cardinality, base_width=base_width,
                     **rgs_parts(variant, groups))


def _hparams(variant, width):
    return {
        "variant": (variant, "`'b'`, `'d'` or `'res'` (spec §3.3)."),
        "width": (width, "float. Width multiplier (paper: 0.25 to 2)."),
        "groups": (None, "int or None. GroupNorm groups; None = 32 * width."),
    }


_IMAGENET_PARAMS = {"b": 25_579_560, "d": 25_587_112, "res": 25_587_112}
_WIDTH = ("float. Width multiplier (1 = ResNet-50 widths; the paper uses "
          "0.25 to 2).")
_GROUPS = ("int or None. GroupNorm groups; None = 32 * width (spec §3.2).")
for _variant, _Name in _NAMES.items():
    _key = _Name.lower().replace("rgsnet", "_rgsnet")
    register_arch(
        f"{_key}_50", f"{_Name}50",
        lambda width, groups, _variant=_variant: rgsnet(
            50, variant=_variant, width=width, groups=groups),
        family="rgs", paper=PAPER, table="Tables 1, 2, 10",
        description=(f"ImageNet {_variant}-RGSNet-50 (ResNet-50 v1 with RG "
                     "shortcuts)."),
        default_size=224,
        hparams={"width": (1.0, _WIDTH), "groups": (None, _GROUPS)},
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
    lambda depth, width, variant, stem, groups: rgsnet(
        depth, variant=variant, width=width, stem=stem, groups=groups),
    family="rgs", paper=PAPER, table="Tables 3, 4, 8, 9, Fig. 4",
    description=("Any RGSNet of the paper's grids: b/d/Res variant, depths "
                 "26-152, widths 0.25-2, with the CIFAR stem (3x3 conv, no "
                 "max-pool; assumed, spec §3.5) or the ImageNet one."),
    default_size=32,
    hparams={
        "depth": (26, "int. 26, 32, 38, 44, 50, 62, 77, 101 or 152."),
        "width": (1.0, _WIDTH),
        "variant": ("res", "`'b'`, `'d'` or `'res'` (spec §3.3)."),
        "stem": ("cifar", "`'cifar'` or `'imagenet'`."),
        "groups": (None, _GROUPS),
    },
)
