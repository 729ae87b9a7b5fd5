"""ResNet in ResNet (RiR) and the paper's comparison nets.

Reference: Targ, Almeida & Lyman, "Resnet in Resnet: Generalizing Residual
Architectures", ICLR workshop 2016. Two streams (residual r, transient m)
flow through `RiRConv` layers (spec §5); they have equal widths, as in the
paper, except where `RiRNet`'s `transient_ratio` sets another split.
`mode` picks one of the paper's Figure 2 quadrants: `"rir"` (inner
identity shortcuts + an outer shortcut per block), `"resnet"` (outer
shortcut only), `"resnet_init"` (identity-initialised kernels, no
shortcuts) and `"cnn"` (none).
"""

from keras_resvariants import _validation as v
from keras_resvariants.blocks import specs as s
from keras_resvariants.models._registry import register_arch

PAPER = ("Targ, Almeida & Lyman, Resnet in Resnet: Generalizing Residual "
         "Architectures, 2016")
MODES = ("rir", "resnet", "resnet_init", "cnn")
SHORTCUTS = ("identity", "projection")


def rir_block(mode, layers, shortcut="identity"):
    v.check_choice("mode", mode, MODES)
    v.check_choice("shortcut", shortcut, SHORTCUTS)
    if shortcut != "identity" and mode != "rir":
        raise ValueError(
            "`shortcut` applies to mode 'rir' only (the other modes have no "
            f"inner shortcuts). Received: shortcut={shortcut!r} with "
            f"mode={mode!r}"
        )
    return s.RiRBlock(
        layers=layers,
        inner_shortcut=shortcut if mode == "rir" else None,
        outer_shortcut=mode in ("rir", "resnet"),
        resnet_init=mode == "resnet_init",
    )


def split_streams(widths, transient_ratio):
    """Residual and transient stream widths of stages of total `widths`.

    The transient stream gets `round(transient_ratio * width)` channels of
    each stage (0.5: the paper's equal streams, spec §7.13).
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
            conv_head=False, transient_widths=None, shortcut="identity"):
    """Three stages of RiR blocks; `widths` are per-stream stage widths
    (the residual stream's, and the transient stream's unless
    `transient_widths` gives them)."""
    blocks = v.check_per_stage("blocks_per_stage", blocks_per_stage,
                               len(widths))
    transient = tuple(transient_widths or widths)
    return s.NetSpec(
        stem=s.TwoStreamStem(widths[0], transient[0]),
        stages=tuple(
            s.StageSpec(w, n, 1 if i == 0 else 2, width=m)
            for i, (w, m, n) in enumerate(zip(widths, transient, blocks))
        ),
        block=rir_block(mode, layers_per_block, shortcut),
        tail=(s.ConcatStreams(),),
        head=s.ConvHead() if conv_head else s.DenseHead(),
        default_size=32,
    )


def _mode_doc(mode):
    return (mode, "`'rir'`, `'resnet'`, `'resnet_init'` or `'cnn'` (the "
                  "paper's Figure 2).")


def _rir_net_32(blocks_per_stage, layers_per_block, mode, transient_ratio,
                shortcut):
    # ResNet-32 widths 16/32/64 split between the two streams.
    residual, transient = split_streams((16, 32, 64), transient_ratio)
    return rir_net(widths=residual, transient_widths=transient,
                   blocks_per_stage=blocks_per_stage,
                   layers_per_block=layers_per_block, mode=mode,
                   shortcut=shortcut)


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
             "mode": _mode_doc("rir"),
             "transient_ratio": (0.5, "float in (0, 1). Share of each "
                                      "stage's width in the transient "
                                      "stream (0.5: equal streams)."),
             "shortcut": ("identity", "`'identity'` (option A) or "
                                      "`'projection'` (option B) where the "
                                      "shape changes, mode 'rir' only (the "
                                      "paper grid-searched both, §3).")},
    expected_params=464_154, paper_params="0.46M",
)
_MODES = (("rir", "RiRNet", "rir_net"), ("resnet", "RiRResNet", "rir_resnet"),
          ("resnet_init", "RiRResNetInit", "rir_resnet_init"),
          ("cnn", "RiRCNN", "rir_cnn"))
for _mode, _Name, _key in _MODES:
    register_arch(
        f"{_key}_32", f"{_Name}32",
        lambda _mode=_mode: rir_net(widths=(8, 16, 32), blocks_per_stage=5,
                                    mode=_mode),
        family="rir", paper=PAPER, table="Table 1",
        description=(f"Table 1's 32-layer net in mode {_mode!r}: the "
                     "ResNet-32 layout with two equal streams."),
        default_size=32, hparams={},
        expected_params=464_154, paper_params="0.46M",
    )
    register_arch(
        f"{_key}_18_wide", f"{_Name}18Wide",
        lambda _mode=_mode: rir_net(widths=(48, 96, 192),
                                    blocks_per_stage=(2, 3, 3), mode=_mode,
                                    conv_head=True),
        family="rir", paper=PAPER, table="Tables 2, 3",
        description=(f"The 18-layer + wide net in mode {_mode!r}: stream "
                     "widths 48/96/192, blocks 2/3/3, 1x1-conv classifier."),
        default_size=32, hparams={},
        expected_params=9_469_940,
    )
