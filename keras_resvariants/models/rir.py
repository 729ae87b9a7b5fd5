"""ResNet in ResNet (RiR) and the paper's comparison nets.

Reference: Targ, Almeida & Lyman, "Resnet in Resnet: Generalizing Residual
Architectures", ICLR workshop 2016. Two streams (residual r, transient m)
flow through `RiRConv` layers; they have equal widths, as in the paper,
except where `RiRNet`'s `transient_ratio` sets another split. `mode` picks
one of the paper's Figure 2 cells, whose axes are "initialization" (ResNet
Init) and "with shortcut connections":

- `"rir"`: "The ResNet initialization described above applied to each
  convolution within an original ResNet unit leads us to ... ResNet in
  ResNet (RiR)". Every RiRConv starts as `W + I` on the residual stream
  (Eq. 2: "a modified initialization of a standard convolutional ...
  layer that combines the identity shortcut with the desired linear
  transformation", so the identity is learnable), and each block of
  `layers_per_block` layers has the outer shortcut of "an original ResNet
  unit": added to the residual stream after the last layer's BN, inside
  its ReLU. Only the residual stream gets it: "The working memory stream
  m adds the ability to process information from either stream in a
  nonlinear manner without identity connections."
- `"resnet"`: the "standard ResNet" RiR is compared with ("the RiR
  architecture outperforms the standard ResNet (Table 1)"; Table 1 lists
  it next to "ResNet (He et al., 2015)"): He et al.'s ResNet of the same
  total width, built as two streams with no inner identity and the outer
  shortcut over both streams inside the ReLU. The two-stream layers are a
  single-stream ResNet whose kernels are the concatenated stream-pair
  kernels; option A pads the zero channels at the end of each stream
  instead of at the end of `concat(r, m)`, a permutation of channels.
- `"resnet_init"`: ResNet Init only (learnable `W + I`, no shortcuts).
- `"cnn"`: neither.

Other readings, kept under explicit names: `inner_identity="fixed"` (RiR
with Eq. 1's identity as a constant, not a learnable initialisation),
`outer_join="post_relu"` (the outer shortcut added after the last ReLU)
and `mode="resnet_residual_stream"` (the ResNet cell read as RiR without
the initialisation: an outer shortcut on the residual stream only).
`mode="rir", inner_identity="fixed", outer_join="post_relu"` and
`mode="resnet_residual_stream", outer_join="post_relu"` are exactly the
nets this package built as `"rir"` and `"resnet"` before.

`shortcut` is "the type of shortcut connections (identity or projection)
used when increasing dimension in the ResNet and RiR architectures" (§3):
where a layer or a block changes shape, option A (subsample, zero-pad) or
a learned 1x1 projection (option B); elsewhere the identity.
"""

import dataclasses

from keras_resvariants import _validation as v
from keras_resvariants._catalog import StudyEntry
from keras_resvariants._catalog import StudyPair
from keras_resvariants.blocks import specs as s
from keras_resvariants.models import resnet
from keras_resvariants.models._registry import register_arch
from keras_resvariants.models._registry import register_family
from keras_resvariants.search_space import FamilySpace
from keras_resvariants.search_space import Param

PAPER = ("Targ, Almeida & Lyman, Resnet in Resnet: Generalizing Residual "
         "Architectures, 2016")
MODES = ("rir", "resnet", "resnet_init", "cnn", "resnet_residual_stream")
SHORTCUTS = ("identity", "projection")
INNER_IDENTITIES = ("learnable", "fixed")
OUTER_JOINS = ("pre_relu", "post_relu")

# mode -> (inner identity, outer shortcut); None: the mode has none.
_MODE_SLOTS = {
    "rir": ("learnable", "residual"),
    "resnet": (None, "both"),
    "resnet_init": ("learnable", None),
    "cnn": (None, None),
    "resnet_residual_stream": (None, "residual"),
}


def _resolve_rir(values):
    kwargs = {k: values[k] for k in ("blocks_per_stage", "layers_per_block",
                                     "mode", "transient_ratio")}
    if values["mode"] == "rir" and "shortcut" in values:
        kwargs["shortcut"] = values["shortcut"]
    return "rir_net", kwargs


RIR = FamilySpace(
    family="rir",
    paper=PAPER,
    params=(
        Param("blocks_per_stage", "choice", 5, values=(1, 2, 3, 5),
              source="Table 4: 3, 6, 9 and 15 blocks over the 3 stages; "
                     "Table 1's 32-layer net has 5 per stage."),
        Param("layers_per_block", "choice", 2, values=(2, 3, 5, 10),
              source="Table 4: 2, 3, 5 and 10 RiRConv layers per block."),
        Param("mode", "choice", "rir",
              values=("rir", "resnet", "resnet_init", "cnn"),
              source="Fig. 2 and Table 1: RiR, ResNet, ResNet Init, CNN."),
        Param("shortcut", "choice", "identity",
              values=("identity", "projection"),
              condition=("mode", ("rir",)),
              source="§3: the authors grid-searched 'the type of shortcut "
                     "connections (identity or projection)'."),
        Param("transient_ratio", "choice", 0.5, values=(0.25, 0.5, 0.75),
              source="§3 leaves 'different sizes of residual and working "
                     "memory streams' to future work; the models use equal "
                     "streams (0.5, docs/design.md); 0.25 and 0.75 are ours."),
    ),
    resolve=_resolve_rir,
)


FAMILY = register_family(
    "rir", __name__,
    title="RiR",
    citation=PAPER,
    layer="RiRConv",
    recipes=(
        # The paper reports only "the best result of a grid search", so its
        # recipe is the schedule of the ResNet it compares against.
        dataclasses.replace(
            resnet.FAMILY.recipe,
            name="rir",
            source="He et al. 2016, §4.2 (the RiR paper reports only a grid "
                   "search, so we use the ResNet baseline's CIFAR schedule)",
            notes="RiR (Targ et al. 2016) states only 'best result found "
                  "after a grid search on hyperparameters including "
                  "learning rate, L2 penalty, initialization'. "
                  + resnet.FAMILY.recipe.notes,
        ),
    ),
    space=RIR,
    hypermodel="RiRHyperModel",
    study=StudyPair(
        claim="RiR: the two-stream ResNet in ResNet beats He et al.'s "
              "ResNet-32 of the same total width (Fig. 2, the \"ResNet\" "
              "cell).",
        baseline=StudyEntry("rir_resnet_32",
                            "ResNet-32 (RiR \"ResNet\" cell)",
                            macs=52_497_280),
        variants=(StudyEntry("rir_net_32", "RiR-32", macs=52_497_280),),
    ),
)


def rir_block(mode, layers, shortcut="identity", inner_identity="learnable",
              outer_join="pre_relu"):
    """The `RiRBlock` of one of the `MODES`."""
    v.check_choice("mode", mode, MODES)
    v.check_choice("shortcut", shortcut, SHORTCUTS)
    v.check_choice("inner_identity", inner_identity, INNER_IDENTITIES)
    v.check_choice("outer_join", outer_join, OUTER_JOINS)
    inner, outer = _MODE_SLOTS[mode]
    if inner_identity != "learnable" and mode != "rir":
        raise ValueError(
            "`inner_identity` applies to mode 'rir' only (ResNet Init's "
            "identity is an initialisation by definition; the other modes "
            f"have none). Received: inner_identity={inner_identity!r} with "
            f"mode={mode!r}"
        )
    for argument, value, default in (("shortcut", shortcut, "identity"),
                                     ("outer_join", outer_join, "pre_relu")):
        if outer is None and value != default:
            raise ValueError(
                f"`{argument}` applies to the modes with shortcut "
                "connections ('rir', 'resnet', 'resnet_residual_stream'). "
                f"Received: {argument}={value!r} with mode={mode!r}"
            )
    return s.RiRBlock(
        layers=layers,
        inner_identity=inner_identity if mode == "rir" else inner,
        outer_shortcut=outer,
        outer_join=outer_join,
        projection=shortcut == "projection",
    )


def split_streams(widths, transient_ratio):
    """Residual and transient stream widths of stages of total `widths`.

    The transient stream gets `round(transient_ratio * width)` channels of
    each stage (0.5: the paper's equal streams).
    """
    ratio = v.check_float("transient_ratio", transient_ratio, low=0.0,
                          high=1.0)
    transient = tuple(int(round(ratio * w)) for w in widths)
    if any(m < 1 or m >= w for m, w in zip(transient, widths)):
        raise ValueError(
            "`transient_ratio` must leave at least one channel to each "
            f"stream of the stage widths {tuple(widths)}. Received: "
            f"transient_ratio={transient_ratio!r}"
        )
    return tuple(w - m for w, m in zip(widths, transient)), transient


def rir_net(*, widths, blocks_per_stage, layers_per_block=2, mode="rir",
            conv_head=False, transient_widths=None, shortcut="identity",
            inner_identity="learnable", outer_join="pre_relu"):
    """Three stages of RiR blocks; `widths` are per-stream stage widths
    (the residual stream's, and the transient stream's unless
    `transient_widths` gives them)."""
    v.check_positive_int("layers_per_block", layers_per_block)
    blocks = v.check_per_stage("blocks_per_stage", blocks_per_stage,
                               len(widths))
    transient = tuple(transient_widths or widths)
    return s.NetSpec(
        stem=s.TwoStreamStem(widths[0], transient[0]),
        stages=tuple(
            s.StageSpec(w, n, 1 if i == 0 else 2, width=m)
            for i, (w, m, n) in enumerate(zip(widths, transient, blocks))
        ),
        block=rir_block(mode, layers_per_block, shortcut, inner_identity,
                        outer_join),
        head=s.ConvHead() if conv_head else s.DenseHead(),
        default_size=32,
    )


_MODE_DOC = (
    "`'rir'` (learnable W + I in every layer, outer shortcut on the "
    "residual stream), `'resnet'` (He et al.'s ResNet of the same total "
    "width), `'resnet_init'` (W + I only) or `'cnn'` (none): the paper's "
    "Figure 2; or `'resnet_residual_stream'` (an outer shortcut on the "
    "residual stream only)."
)
_SHORTCUT_DOC = (
    "`'identity'` (option A) or `'projection'` (option B): the shortcut "
    "where a layer or block changes shape, in the modes with shortcut "
    "connections (the paper grid-searched both, §3)."
)
_INNER_DOC = (
    "`'learnable'` (the identity is in the kernel's initialisation, Eq. "
    "2) or `'fixed'` (a constant identity added to the kernel, Eq. 1), "
    "mode 'rir' only. Equal at initialisation; a fixed net's weights "
    "load into a learnable one after adding I to the centre tap of the "
    "residual-to-residual block of every RiRConv kernel."
)
_JOIN_DOC = (
    "`'pre_relu'` (the outer shortcut is added after the last layer's BN, "
    "inside its ReLU, as in a ResNet unit) or `'post_relu'` (after the "
    "ReLU: this package's earlier RiR)."
)


def _rir_net_32(blocks_per_stage, layers_per_block, mode, transient_ratio,
                shortcut, inner_identity="learnable", outer_join="pre_relu"):
    # ResNet-32 widths 16/32/64 split between the two streams.
    residual, transient = split_streams((16, 32, 64), transient_ratio)
    return rir_net(widths=residual, transient_widths=transient,
                   blocks_per_stage=blocks_per_stage,
                   layers_per_block=layers_per_block, mode=mode,
                   shortcut=shortcut, inner_identity=inner_identity,
                   outer_join=outer_join)


register_arch(
    "rir_net", "RiRNet",
    _rir_net_32,
    family="rir", paper=PAPER, table="Tables 1, 4",
    description=("The 32-layer-style RiR on CIFAR (streams 8/16/32 each): "
                 "Table 4's grid is `blocks_per_stage` x `layers_per_block` "
                 "= (5, 2), (1, 10), (2, 5), (5, 5), (3, 3)."),
    default_size=32,
    hparams={"blocks_per_stage": (5, "int. RiR blocks per stage."),
             "layers_per_block": (2, "int. RiRConv layers per block."),
             "mode": ("rir", _MODE_DOC),
             "transient_ratio": (0.5, "float in (0, 1). Share of each "
                                      "stage's width in the transient "
                                      "stream (0.5: equal streams)."),
             "shortcut": ("identity", _SHORTCUT_DOC),
             "inner_identity": ("learnable", _INNER_DOC),
             "outer_join": ("pre_relu", _JOIN_DOC)},
    expected_params=464_154, paper_params="0.46M",
)

_READINGS = {"inner_identity": ("learnable", _INNER_DOC),
             "outer_join": ("pre_relu", _JOIN_DOC)}
_MODES = (
    ("rir", "RiRNet", "rir_net",
     "RiR: learnable W + I in every RiRConv, and an outer shortcut per "
     "2-layer block on the residual stream, inside the last ReLU"),
    ("resnet", "RiRResNet", "rir_resnet",
     "the \"ResNet\" baseline: He et al.'s ResNet of the same total "
     "width (two-stream layers, no inner identity, the outer shortcut "
     "over both streams inside the ReLU; option A shortcuts)"),
    ("resnet_init", "RiRResNetInit", "rir_resnet_init",
     "\"ResNet Init\": learnable W + I in every RiRConv, no shortcuts"),
    ("cnn", "RiRCNN", "rir_cnn",
     "the \"CNN\" baseline: two-stream layers with neither"),
)
for _mode, _Name, _key, _what in _MODES:
    # Only RiR itself has more than one reading to choose from.
    _hparams = _READINGS if _mode == "rir" else {}
    register_arch(
        f"{_key}_32", f"{_Name}32",
        lambda _mode=_mode, **readings: rir_net(
            widths=(8, 16, 32), blocks_per_stage=5, mode=_mode, **readings),
        family="rir", paper=PAPER, table="Table 1",
        description=(f"Table 1's 32-layer net in mode {_mode!r}, {_what}: "
                     "the ResNet-32 layout (16/32/64) as two equal "
                     "streams."),
        default_size=32, hparams=_hparams,
        expected_params=464_154, paper_params="0.46M",
    )
    register_arch(
        f"{_key}_18_wide", f"{_Name}18Wide",
        lambda _mode=_mode, **readings: rir_net(
            widths=(48, 96, 192), blocks_per_stage=(2, 3, 3), mode=_mode,
            conv_head=True, **readings),
        family="rir", paper=PAPER, table="Tables 2, 3",
        description=(f"The 18-layer + wide net in mode {_mode!r}, {_what}: "
                     "stream widths 48/96/192, blocks 2/3/3, 1x1-conv "
                     "classifier."),
        default_size=32, hparams=_hparams,
        expected_params=9_469_940,
    )
