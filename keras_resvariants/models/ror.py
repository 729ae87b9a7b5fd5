"""RoR: Refine-or-Represent merges on ResNets, ResNeXts and SE-ResNeXts.

Reference: Shen & Gao, "Refine or Represent: Residual Networks with Explicit
Channel-wise Configuration", IJCAI 2018. `RoRAdd` replaces the sum of every
block, projection blocks included; the post-add ReLU stays (docs/design.md).
Each block's channel split is seeded with `seed + block index`. The SDepth
baselines are the same nets with `represent_ratio=0`.
"""

from keras_resvariants._catalog import StudyEntry
from keras_resvariants._catalog import StudyPair
from keras_resvariants.blocks import specs as s
from keras_resvariants.models._registry import register_arch
from keras_resvariants.models._registry import register_family
from keras_resvariants.models.resnet import bottleneck_net
from keras_resvariants.models.resnet import cifar_bottleneck
from keras_resvariants.models.resnet import resnext29
from keras_resvariants.recipes import Recipe
from keras_resvariants.search_space import FamilySpace
from keras_resvariants.search_space import Param

PAPER = ("Shen & Gao, Refine or Represent: Residual Networks with Explicit "
         "Channel-wise Configuration, IJCAI 2018")


# depth -> (our parameter count, the paper's, the paper's FLOPs).
_CIFAR = {56: (2_341_290, "2.3M", "0.34G"), 110: (4_550_826, "4.6M", "0.66G"),
          164: (6_760_362, "6.8M", "0.99G")}


def _resolve_ror(values):
    kwargs = {k: values[k] for k in ("width", "represent_ratio", "drop_rate")}
    kwargs.update({k: values[k] for k in ("seed", "drop_mode", "scale_at")
                   if k in values})
    return f"ror_resnet_{values['depth']}", kwargs


ROR = FamilySpace(
    family="ror",
    paper=PAPER,
    params=(
        Param("depth", "choice", 56, values=tuple(_CIFAR),
              source="Table 2 and Figs. 5-6: RoR on the CIFAR ResNet-56, "
                     "-110 and -164 (registry ror_resnet_{depth})."),
        Param("width", "choice", 32, values=(16, 32),
              source="Table 2, Width column: 32, and 16 for the slim nets."),
        Param("represent_ratio", "choice", 0.05,
              values=(0.0, 0.025, 0.05, 0.1, 0.2),
              source="§3 ('a ratio around 0.05 works well'), §4.3 and "
                     "Fig. 5: U-shaped error over the ratio, lowest at 5%; "
                     "0 is the SDepth ResNet. Fig. 5's other ticks are not "
                     "in the text: 0.025, 0.1 and 0.2 are our points either "
                     "side of the optimum."),
        Param("drop_rate", "choice", 0.2, values=(0.0, 0.1, 0.2, 0.3, 0.4),
              source="§4.4 and Fig. 6: drop-layer rate from 0 to 40%, "
                     "lowest error at 20%."),
    ),
    resolve=_resolve_ror,
    extras=("seed", "drop_mode", "scale_at"),
)


FAMILY = register_family(
    "ror", __name__,
    title="RoR",
    citation=PAPER,
    layer="RoRAdd",
    recipes=(
        Recipe(
            name="ror",
            source="Shen & Gao 2018 (RoR), §4.1 'Implementation and Training'",
            learning_rate=0.01, batch_size=128, weight_decay=1e-4, epochs=300,
            milestones=(0.5, 0.75), milestone_unit="fraction",
            notes="The paper gives no weight decay; 1e-4 (He et al.'s value, "
                  "used by the PyTorch CIFAR ResNet code) is our assumption.",
        ),
        Recipe(
            name="ror_imagenet",
            source="Shen & Gao 2018 (RoR), §4.1, ImageNet",
            learning_rate=0.01, batch_size=128, weight_decay=1e-4, epochs=80,
            milestones=(0.5, 0.75), milestone_unit="fraction",
            notes="Weight decay not given in the paper; 1e-4 assumed.",
        ),
    ),
    space=ROR,
    hypermodel="RoRHyperModel",
    study=StudyPair(
        claim="RoR: Refine-or-Represent merges beat the plain sums of the "
              "bottleneck ResNet-56.",
        baseline=StudyEntry("resnet_56_bottleneck",
                            "ResNet-56 bottleneck (w=16)", (("width", 16),),
                            macs=66_548_480),
        variants=(StudyEntry("ror_resnet_56", "RoR ResNet-56 (w=16)",
                             (("width", 16),), macs=66_548_480),),
    ),
)


def _hparams(ratio):
    return {
        "represent_ratio": (ratio, "float in [0, 1]. Share of Represent "
                                   "channels per block."),
        "drop_rate": (0.2, "float in [0, 1]. Drop-layer rate on the Refine "
                           "channels' residual."),
        "drop_mode": ("batch", "`'batch'` (one gate per batch, SDepth) or "
                               "`'sample'`."),
        "scale_at": ("inference", "`'inference'` (x(1-p) at test time) or "
                                  "`'train'` (inverted scaling)."),
        "seed": (0, "int. Base seed of the channel splits."),
    }


def _merge(represent_ratio, drop_rate, drop_mode, scale_at):
    return s.RoRMerge(represent_ratio=represent_ratio, drop_rate=drop_rate,
                      drop_mode=drop_mode, scale_at=scale_at)


for _prefix, _Name, _ratio, _what in (
    ("ror", "RoR", 0.05, "RoR"),
    ("sdepth", "SDepth", 0.0, "the stochastic-depth (SDepth) baseline of"),
):
    for _d, (_p, _pp, _pm) in _CIFAR.items():
        register_arch(
            f"{_prefix}_resnet_{_d}", f"{_Name}ResNet{_d}",
            lambda width, seed, _d=_d, **m: cifar_bottleneck(
                _d, width=width, merge=_merge(**m), seed=seed),
            family="ror", paper=PAPER, table="Tables 2-4",
            description=(f"{_what} the {_d}-layer CIFAR bottleneck ResNet "
                         "(`width=16` is the paper's slim net)."),
            default_size=32,
            hparams={"width": (32, "int. First-stage width w (32 full, 16 "
                                   "slim)."), **_hparams(_ratio)},
            expected_params=_p, paper_params=_pp, paper_macs=_pm,
        )
    register_arch(
        f"{_prefix}_resnext_29", f"{_Name}ResNeXt29",
        lambda cardinality, base_width, seed, **m: resnext29(
            cardinality=cardinality, base_width=base_width,
            merge=_merge(**m), seed=seed),
        family="ror", paper=PAPER, table="Tables 2-4",
        description=f"{_what} CIFAR ResNeXt-29 (8x64d).",
        default_size=32,
        hparams={"cardinality": (8, "int. Groups of the 3x3 convs."),
                 "base_width": (64, "int. 64 full, 32 slim."),
                 **_hparams(_ratio)},
        expected_params=34_426_698, paper_params="34.4M", paper_macs="5.32G",
    )
    register_arch(
        f"{_prefix}_se_resnext_29", f"{_Name}SEResNeXt29",
        lambda cardinality, base_width, seed, **m: resnext29(
            cardinality=cardinality, base_width=base_width, se_reduction=16,
            merge=_merge(**m), seed=seed),
        family="ror", paper=PAPER, table="Tables 2-4",
        description=(f"{_what} CIFAR SE-ResNeXt-29: the SE-rescaled "
                     "residual is the merge's residual input."),
        notes=("The paper lists 34.4M parameters; SE with r=16 makes it "
               "about 35.0M (docs/design.md)."),
        default_size=32,
        hparams={"cardinality": (8, "int. Groups of the 3x3 convs."),
                 "base_width": (64, "int. 64 full, 32 slim."),
                 **_hparams(_ratio)},
        paper_params="34.4M",
    )
    register_arch(
        f"{_prefix}_resnet_101", f"{_Name}ResNet101",
        lambda width, seed, **m: bottleneck_net(
            101, width=width, merge=_merge(**m), seed=seed),
        family="ror", paper=PAPER, table="Tables 2, 5",
        description=(f"{_what} ImageNet ResNet-101 (`width=0.5` is the "
                     "paper's slim net)."),
        notes=("Slim (`width=0.5`) gives 11.68M parameters against the "
               "paper's 11.3M (docs/design.md)."),
        default_size=224,
        hparams={"width": (1.0, "float. Width multiplier."),
                 **_hparams(_ratio)},
        expected_params=44_549_160, expected_classes=1000,
        paper_params="44.5M", paper_macs="7.58G",
    )
