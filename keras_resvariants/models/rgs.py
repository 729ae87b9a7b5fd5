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
from keras_resvariants._catalog import StudyEntry
from keras_resvariants._catalog import StudyPair
from keras_resvariants.blocks import specs as s
from keras_resvariants.models._registry import register_arch
from keras_resvariants.models._registry import register_family
from keras_resvariants.models.resnet import bottleneck_net
from keras_resvariants.models.resnet import resnext29
from keras_resvariants.recipes import Recipe
from keras_resvariants.search_space import FamilySpace
from keras_resvariants.search_space import Param

PAPER = ("Zhang et al., Revisiting Residual Networks with Nonlinear "
         "Shortcuts, BMVC 2019")
VARIANTS = ("b", "d", "res")
_NAMES = {"b": "BRGSNet", "d": "DRGSNet", "res": "ResRGSNet"}


def rgs_groups(width, group_scale):
    """GroupNorm groups `G = 32 * width * group_scale` (paper §3: G = 32 at
    1x, scaled with the width)."""
    groups = 32 * width * group_scale
    if groups < 1 or groups != int(groups):
        raise ValueError(
            "`group_scale` must make 32 * width * group_scale a whole "
            f"number of GroupNorm groups. Received: group_scale="
            f"{group_scale!r} with width={width!r}"
        )
    return int(groups)


def _resolve_rgs(values):
    groups = values.get("groups")
    if groups is None:
        groups = rgs_groups(values["width"], values["group_scale"])
    kwargs = {
        "depth": values["depth"],
        "width": values["width"],
        "variant": values["variant"],
        "groups": groups,
        "stem": values.get("stem", "cifar"),
    }
    return "rgsnet", kwargs


RGS = FamilySpace(
    family="rgs",
    paper=PAPER,
    params=(
        Param("depth", "choice", 50,
              values=(26, 32, 38, 44, 50, 62, 77, 101, 152),
              source="Tables 3, 8, 9 and Fig. 4: CIFAR-100 ResNets of 26 "
                     "to 152 layers (44 = [3, 4, 4, 3], assumed, see "
                     "docs/design.md); default Table 11's Res-RGSNet50 "
                     "(0.25x)."),
        Param("width", "choice", 0.25, values=(0.25, 0.5, 1.0, 2.0),
              source="Tables 3-4: widths 0.25x to 2x; Fig. 4 and Tables "
                     "9, 11 use 0.25x 'to reduce computation cost'."),
        Param("variant", "choice", "res", values=("b", "d", "res"),
              source="§3 and Fig. 3: b-, d- and Res-RGSNet; Res-RGSNet is "
                     "the best in Tables 2-5."),
        Param("group_scale", "choice", 1.0, values=(0.25, 0.5, 1.0, 2.0),
              source="§3: G = 32 at 1x ('as in [34]'), scaled "
                     "proportionally with the width (8 at 0.25x); here "
                     "G = 32 * width * group_scale. The paper does not "
                     "sweep G: 1/4 to 2 times its G is our range (Wu & "
                     "He's GroupNorm ablation spans 1 to 64 groups)."),
    ),
    resolve=_resolve_rgs,
    extras=("groups", "stem"),
    replaces={"groups": ("group_scale",)},
)


FAMILY = register_family(
    "rgs", __name__,
    title="RGSNet",
    citation=PAPER,
    layer="RGShortcut",
    recipes=(
        Recipe(
            name="rgs_cifar",
            source="Zhang et al. 2019 (RGSNet), §4.2 CIFAR-100",
            learning_rate=0.1, batch_size=128, weight_decay=5e-4, epochs=164,
            milestones=(82, 124), milestone_unit="epoch",
        ),
        Recipe(
            name="rgs_imagenet",
            source="Zhang et al. 2019 (RGSNet), §4.1 ImageNet",
            learning_rate=0.05, batch_size=128, weight_decay=1e-4, epochs=90,
            milestones=(30, 60), milestone_unit="epoch",
            notes="The paper gives lr 0.05 at batch 128 (linear scaling of 0.1 "
                  "at 256), /10 every 30 epochs; 90 epochs and wd 1e-4 are the "
                  "standard ImageNet ResNet values it refers to.",
        ),
    ),
    space=RGS,
    hypermodel="RGSHyperModel",
    study=StudyPair(
        claim="RGSNet: ReLU + GroupNorm (RG) shortcuts beat the identity "
              "shortcuts of the same ResNet-26.",
        baseline=StudyEntry("resnet_cifar", "ResNet-26 (w=0.25)",
                            (("depth", 26), ("width", 0.25)),
                            macs=33_684_736),
        variants=(StudyEntry("rgsnet", "Res-RGSNet-26 (w=0.25)",
                             (("depth", 26), ("width", 0.25),
                              ("variant", "res")),
                             macs=33_684_736),),
    ),
)


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
