"""Res-SE-Net: squeeze-and-excitation on the bridge (projection) shortcuts.

Reference: Varshaneya et al., "Res-SE-Net: Boosting Performance of Resnets
by Enhancing Bridge-connections", 2019. Basic blocks at every depth (spec
§4.6: the public code's bottleneck rule contradicts the paper's numbers).
"""

from keras_resvariants import _validation as v
from keras_resvariants.blocks import specs as s
from keras_resvariants.models._registry import register_arch
from keras_resvariants.models.resnet import cifar_basic

PAPER = ("Varshaneya et al., Res-SE-Net: Boosting Performance of Resnets "
         "by Enhancing Bridge-connections, 2019")
_PARAMS = {20: 273_216, 32: 467_648, 44: 662_080, 56: 856_512,
           110: 1_731_456}
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
