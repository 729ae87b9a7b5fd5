"""Res-SE-Net: squeeze-and-excitation on the bridge (projection) shortcuts.

Reference: Varshaneya et al., "Res-SE-Net: Boosting Performance of Resnets
by Enhancing Bridge-connections", 2019. Basic blocks at every depth: the
public code's bottleneck rule contradicts the paper's parameter counts
(docs/design.md, "res_se").
"""

from keras_resvariants import _validation as v
from keras_resvariants._catalog import StudyEntry
from keras_resvariants._catalog import StudyPair
from keras_resvariants.blocks import specs as s
from keras_resvariants.models._registry import register_arch
from keras_resvariants.models._registry import register_family
from keras_resvariants.models.resnet import cifar_basic
from keras_resvariants.recipes import Recipe
from keras_resvariants.search_space import FamilySpace
from keras_resvariants.search_space import Param

PAPER = ("Varshaneya et al., Res-SE-Net: Boosting Performance of Resnets "
         "by Enhancing Bridge-connections, 2019")
# depth -> trainable parameters of the faithful build (10 classes).
_PARAMS = {20: 273_216, 32: 467_648, 44: 662_080, 56: 856_512,
           110: 1_731_456}


def _resolve_res_se(values):
    return f"res_se_net_{values['depth']}", {"reduction": values["reduction"]}


RES_SE = FamilySpace(
    family="res_se",
    paper=PAPER,
    params=(
        Param("depth", "choice", 44, values=tuple(_PARAMS),
              source="§5 and Table 5: depths 20, 32, 44, 56, 110; §6: "
                     "Res-SE-Net-44 beats ResNet-110 and SE-ResNet-110."),
        Param("reduction", "choice", 16, values=(2, 4, 8, 16, 32),
              source="§3.2: the SE reduction r of Hu et al. [2]; r = 16 "
                     "reproduces the paper's parameter savings exactly "
                     "(docs/design.md). The paper does not sweep r: 2 to 32 is "
                     "SE-Net's own reduction-ratio ablation."),
    ),
    resolve=_resolve_res_se,
)


FAMILY = register_family(
    "res_se", __name__,
    title="Res-SE-Net",
    citation=PAPER,
    layer="BridgeSE",
    recipes=(
        Recipe(
            name="res_se_net",
            source="Varshaneya et al. 2019 (Res-SE-Net), §5 and Table 3",
            learning_rate=0.1, batch_size=128, weight_decay=1e-4,
            iterations=64000, milestones=(32000, 48000),
            milestone_unit="iteration",
        ),
    ),
    space=RES_SE,
    hypermodel="ResSEHyperModel",
    study=StudyPair(
        claim="Res-SE-Net: squeeze-and-excitation on the bridge "
              "(projection) shortcuts beats the plain ResNet-20.",
        baseline=StudyEntry("resnet_20", "ResNet-20", macs=31_021_952),
        variants=(StudyEntry("res_se_net_20", "Res-SE-Net-20",
                             macs=31_022_592),),
    ),
)

_HPARAMS = {"reduction": (16, "int. SE reduction ratio r on the bridges.")}


def res_se_net(depth, *, reduction=16):
    v.check_positive_int("reduction", reduction)
    return cifar_basic(
        depth,
        shortcut=s.Shortcut(projection=s.Projection(se_reduction=reduction)),
    )


for _d, _p in _PARAMS.items():
    register_arch(
        f"res_se_net_{_d}", f"ResSENet{_d}",
        lambda reduction, _d=_d: res_se_net(_d, reduction=reduction),
        family="res_se", paper=PAPER, table="Table 5",
        description=(f"Res-SE-Net-{_d}: the {_d}-layer CIFAR ResNet with "
                     "`BridgeSE` on its two projection (bridge) shortcuts, "
                     "after the down-sampling."),
        default_size=32, hparams=_HPARAMS, expected_params=_p,
        paper_params=None,
    )
