"""SeqResNet, SeqResNet-B and SeqResNeXt: sequentially aggregated convs.

Reference: Huang et al., "Sequentially Aggregated Convolutional Networks",
ICCV Workshops 2019. Structure from the authors' code as read in docs/design.md:
a dense head SeqConv, residual blocks of two windowed SeqConvs whose second
adds the shortcut per group before its BN, down-sampling blocks (extension
SeqConv + grouped strided conv), a 1x1 blender, pooling and a classifier.
"""

from keras_resvariants import _validation as v
from keras_resvariants._catalog import StudyEntry
from keras_resvariants._catalog import StudyPair
from keras_resvariants.blocks import specs as s
from keras_resvariants.models._registry import register_arch
from keras_resvariants.models._registry import register_family
from keras_resvariants.recipes import Recipe
from keras_resvariants.search_space import FamilySpace
from keras_resvariants.search_space import Param

PAPER = ("Huang et al., Sequentially Aggregated Convolutional Networks, "
         "ICCV Workshops 2019")


def _resolve_seqconv(values):
    bottleneck = values["block"] == "bottleneck"
    kwargs = {k: values[k] for k in ("k", "r", "blocks_per_stage", "dense")}
    if bottleneck and "subgroups" in values:
        kwargs["subgroups"] = values["subgroups"]
    if "dropout" in values:
        kwargs["dropout"] = values["dropout"]
    return ("seq_resnet_b" if bottleneck else "seq_resnet"), kwargs


SEQCONV = FamilySpace(
    family="seqconv",
    paper=PAPER,
    params=(
        Param("block", "choice", "basic", values=("basic", "bottleneck"),
              source="Tables 1, 3: SeqResNet (basic SeqConvs) and "
                     "SeqResNet-B (bottleneck SeqConvs)."),
        Param("k", "choice", 8, values=(8, 16, 32),
              source="Tables 3, 5: group width k = 8, 16 (basic) and 16, "
                     "32 (bottleneck); Table 5's S1 vs S3: smaller k is "
                     "better."),
        Param("r", "choice", 4, values=(2, 4, 6, 8, 10, 12),
              source="Tables 1, 3, 5: widening factor r = 3, 4, 7, 10, 12 "
                     "(stage widths 16r/32r/48r); even values only, so "
                     "that k = 32 divides every stage width (fix r for the "
                     "odd ones with k <= 16)."),
        Param("blocks_per_stage", "choice", 1, values=(1, 2, 3),
              source="Table 3 (N = 1, 3) and Table 5 (N = {1, 2, 1}, "
                     "{1, 2, 2})."),
        Param("dense", "boolean", False,
              source="§3.1 'Windowed layers' and Table 5: S1 (windowed, a "
                     "window of the input width) vs S2 (dense aggregation, "
                     "no window); windowed is better."),
        Param("subgroups", "choice", 1, values=(1, 2, 4, 8),
              condition=("block", ("bottleneck",)),
              source="§3.2 'Subgroups' and Table 2: c = 8, 8, 4, 4 in "
                     "SeqResNeXt-24, 1 in SeqResNet-B (bottleneck only)."),
    ),
    resolve=_resolve_seqconv,
    extras=("dropout",),
)


FAMILY = register_family(
    "seqconv", __name__,
    title="SeqConv",
    citation=PAPER,
    layer="SeqConv2D",
    recipes=(
        Recipe(
            name="seqconv",
            source="Huang et al. 2019 (SeqConv), §4.2 CIFAR",
            learning_rate=0.1, batch_size=64, weight_decay=1e-4, epochs=300,
            milestones=(150, 225), milestone_unit="epoch", nesterov=True,
            model_kwargs=(("dropout", 0.1),),
            notes="Zero-initialised second SeqConv layer of each block and the "
                  "Kaiming/fan-out initialisers are built into the SeqConv "
                  "builders (docs/design.md); dropout 0.1 before every SeqConv "
                  "except the first and before the blender.",
        ),
        Recipe(
            name="seqconv_imagenet",
            source="Huang et al. 2019 (SeqConv), §4.2 ImageNet",
            learning_rate=0.1, batch_size=256, weight_decay=1e-4, epochs=100,
            milestones=(30, 60, 90), milestone_unit="epoch", nesterov=True,
        ),
    ),
    space=SEQCONV,
    hypermodel="SeqConvHyperModel",
    study=StudyPair(
        claim="SeqConv: a SeqResNet beats the plain ResNet-20.",
        baseline=StudyEntry("resnet_20", "ResNet-20", macs=31_021_952),
        variants=(StudyEntry("seq_resnet", "SeqResNet k8 r1",
                             (("k", 8), ("r", 1)), macs=15_072_096),),
    ),
)


def seq_resnet_cifar(*, k=8, r=4, blocks_per_stage=1, bottleneck=False,
                     dense=False, dropout=0.1, subgroups=1):
    """Table 1's CIFAR template: widths 16r/32r/48r, the same k everywhere.

    `subgroups` (bottleneck only) splits every SeqConv group's 3x3 conv into
    c groups, as SeqResNeXt does on ImageNet (paper §3.2); the CIFAR nets of
    the paper use c = 1.
    """
    v.check_bool("dense", dense)
    v.check_bool("bottleneck", bottleneck)
    k = v.check_positive_int("k", k)
    r = v.check_positive_int("r", r)
    subgroups = v.check_positive_int("subgroups", subgroups)
    if subgroups > 1 and not bottleneck:
        raise ValueError(
            "`subgroups` > 1 needs the bottleneck template (SeqResNetB). "
            f"Received: subgroups={subgroups}"
        )
    if k % subgroups:
        raise ValueError(
            f"`subgroups` must divide `k`. Received: subgroups={subgroups}, "
            f"k={k}"
        )
    blocks = v.check_per_stage("blocks_per_stage", blocks_per_stage, 3)
    widths = (16 * r, 32 * r, 48 * r)
    for width in widths:
        if width % k:
            raise ValueError(
                f"`k` must divide every stage width {widths}. Received: "
                f"k={k}, r={r}"
            )
    return s.NetSpec(
        stem=s.SeqStem(conv_filters=(16,), filters=widths[0], group_width=k,
                       subgroups=subgroups, bottleneck=bottleneck),
        stages=tuple(
            s.StageSpec(w, n, 1 if i == 0 else 2, group_width=k,
                        subgroups=subgroups)
            for i, (w, n) in enumerate(zip(widths, blocks))
        ),
        block=s.SeqBlock(bottleneck=bottleneck, dropout=dropout, dense=dense),
        tail=(s.SeqTail(dropout=dropout),),
        default_size=32,
        init="seqconv",
    )


def seq_resnet_imagenet(*, width, blocks_per_stage, subgroups,
                        k=(32, 64, 64, 128)):
    """Table 2's ImageNet nets: bottleneck everywhere, widths 64w*(1,2,4,8)."""
    v.check_positive_int("width", width)
    blocks = v.check_per_stage("blocks_per_stage", blocks_per_stage, 4)
    subgroups = v.check_per_stage("subgroups", subgroups, 4)
    k = v.check_per_stage("k", k, 4)
    widths = tuple(64 * width * f for f in (1, 2, 4, 8))
    return s.NetSpec(
        stem=s.SeqStem(conv_filters=(32, 32), filters=widths[0],
                       group_width=k[0], subgroups=subgroups[0],
                       bottleneck=True, downsample=True),
        stages=tuple(
            s.StageSpec(wd, n, 1 if i == 0 else 2, group_width=kk,
                        subgroups=c)
            for i, (wd, n, kk, c) in enumerate(
                zip(widths, blocks, k, subgroups))
        ),
        block=s.SeqBlock(bottleneck=True),
        tail=(s.SeqTail(),),
        default_size=224,
        init="seqconv",
    )


_CIFAR_HPARAMS = {
    "k": (8, "int. Group width (the paper's k), the same in every stage."),
    "r": (4, "int. Widening factor: stage widths 16r/32r/48r."),
    "blocks_per_stage": (1, "int or 3 ints. Residual blocks per stage (N)."),
    "dense": (False, "bool. Dense (non-windowed) SeqConvs everywhere."),
    "dropout": (0.1, "float. Spatial dropout before every group's conv."),
}
register_arch(
    "seq_resnet", "SeqResNet",
    lambda **h: seq_resnet_cifar(**h),
    family="seqconv", paper=PAPER, table="Tables 1, 3",
    description="CIFAR SeqResNet (basic SeqConvs); k=16, r=10 is 7.6M.",
    default_size=32, hparams=_CIFAR_HPARAMS,
    expected_params=1_233_370, paper_params="1.2M",
)
register_arch(
    "seq_resnet_b", "SeqResNetB",
    lambda **h: seq_resnet_cifar(bottleneck=True, **h),
    family="seqconv", paper=PAPER, table="Tables 1, 3",
    description=("CIFAR SeqResNet-B (bottleneck SeqConvs); k=32, r=12, "
                 "blocks_per_stage=3 is 6.0M."),
    default_size=32,
    hparams={**_CIFAR_HPARAMS, "k": (16, _CIFAR_HPARAMS["k"][1]),
             "r": (7, _CIFAR_HPARAMS["r"][1]),
             "subgroups": (1, "int. Groups c of every SeqConv group's 3x3 "
                              "conv (ResNeXt cardinality, paper §3.2; must "
                              "divide k).")},
    expected_params=843_834, paper_params="0.8M",
)
for _name, _h, _p in (
    ("S2", dict(k=8, r=3, blocks_per_stage=(1, 2, 1), dense=True), 1_229_658),
    ("S3", dict(k=16, r=4, blocks_per_stage=1), 1_254_106),
    ("S4", dict(k=16, r=3, blocks_per_stage=(1, 2, 2)), 1_256_154),
):
    register_arch(
        f"seq_resnet_{_name.lower()}", f"SeqResNet{_name}",
        lambda dropout, _h=_h: seq_resnet_cifar(dropout=dropout, **_h),
        family="seqconv", paper=PAPER, table="Table 5",
        description=f"Table 5's {_name} ablation net ({_h}).",
        default_size=32,
        hparams={"dropout": _CIFAR_HPARAMS["dropout"]},
        expected_params=_p, paper_params="1.2M" if _name == "S2" else "1.3M",
    )

_IMAGENET = {
    "SeqResNeXt24": (4, (1, 1, 3, 1), (8, 8, 4, 4), 26_211_784, "26.2M",
                     "4.32G"),
    "SeqResNetB42": (2, (3, 4, 5, 3), 1, 25_642_696, "25.6M", "5.33G"),
    "SeqResNetB22": (2, (1, 1, 2, 1), 1, 11_859_656, "11.8M", "2.73G"),
}
for _Name, (_w, _blocks, _c, _p, _pp, _pm) in _IMAGENET.items():
    _key = _Name.replace("SeqResNeXt", "seq_resnext_").replace(
        "SeqResNetB", "seq_resnet_b").lower()
    register_arch(
        _key, _Name,
        lambda width, blocks_per_stage, subgroups: seq_resnet_imagenet(
            width=width, blocks_per_stage=blocks_per_stage,
            subgroups=subgroups),
        family="seqconv", paper=PAPER, table="Tables 2, 4",
        description=(f"ImageNet {_Name}: bottleneck SeqConvs, k = "
                     "32/64/64/128 per stage."),
        notes=("Our conv+dense MAC count is about 5.5% above the paper's "
               "FLOPs; parameters match (docs/design.md)."),
        default_size=224,
        hparams={
            "width": (_w, "int. Width w: stage widths 64w*(1, 2, 4, 8)."),
            "blocks_per_stage": (_blocks, "4 ints. Residual blocks per "
                                          "stage."),
            "subgroups": (_c, "int or 4 ints. Groups of the 3x3 inside "
                              "each SeqConv group (ResNeXt cardinality)."),
        },
        expected_params=_p, expected_classes=1000, paper_params=_pp,
        paper_macs=_pm,
    )
