"""Typed, frozen descriptions of networks: stems, blocks, stages, heads.

A network is a `NetSpec`: a stem, a tuple of stages that all use one block
spec, an optional tail, and a head. A residual block is three slots — a body,
a shortcut and a merge — and each paper is a choice of slot values. The
functions that turn a spec into layers are in `parts.py` and dispatch on the
spec's type, so adding a variant is one dataclass plus one registered
function, never an edit of the graph code.
"""

import dataclasses

from keras_resvariants import _validation as v

# --------------------------------------------------------------------------
# Stems


@dataclasses.dataclass(frozen=True)
class CifarStem:
    """3x3 conv + BN + ReLU at full resolution (CIFAR ResNets)."""

    filters: int

    def __post_init__(self):
        v.check_positive_int("filters", self.filters)

    @property
    def stride(self):
        return 1


@dataclasses.dataclass(frozen=True)
class ImageNetStem:
    """7x7/2 conv + BN + ReLU + 3x3/2 max-pool (ResNet v1)."""

    filters: int = 64

    def __post_init__(self):
        v.check_positive_int("filters", self.filters)

    @property
    def stride(self):
        return 4


@dataclasses.dataclass(frozen=True)
class TwoStreamStem:
    """One 3x3 conv + BN + ReLU per stream (ResNet in ResNet)."""

    filters_r: int
    filters_m: int

    def __post_init__(self):
        v.check_positive_int("filters_r", self.filters_r)
        v.check_positive_int("filters_m", self.filters_m)

    @property
    def stride(self):
        return 1


@dataclasses.dataclass(frozen=True)
class SeqStem:
    """SeqResNet head: plain convs, then a dense SeqConv (docs/design.md).

    CIFAR (`downsample=False`): conv3x3(`conv_filters[0]`) + BN + ReLU, then
    a dense basic SeqConv to `filters`. ImageNet (`downsample=True`): conv3x3/2
    and conv3x3, each + BN + ReLU, a dense bottleneck SeqConv to `filters`,
    then the grouped 3x3/2 down-sizing conv that starts the raw stream.
    """

    conv_filters: tuple
    filters: int
    group_width: int
    subgroups: int = 1
    bottleneck: bool = False
    downsample: bool = False

    @property
    def stride(self):
        return 4 if self.downsample else 1


# --------------------------------------------------------------------------
# Shortcut operations: what the shortcut does when the shape is kept
# (identity ops) and when it changes (projection ops).


@dataclasses.dataclass(frozen=True)
class Identity:
    """The plain identity shortcut."""


@dataclasses.dataclass(frozen=True)
class RGIdentity:
    """`GroupNorm(ReLU(x))` instead of the identity (b-/d-RGSNet).

    With `keep_identity=True` the shortcut is `RG(x) + x` (Res-RGSNet).
    """

    groups: int = 32
    keep_identity: bool = False

    def __post_init__(self):
        v.check_positive_int("groups", self.groups)


@dataclasses.dataclass(frozen=True)
class Projection:
    """1x1 conv (with the block's stride) + BN ("option B").

    `se_reduction` adds a `BridgeSE` after the projection (Res-SE-Net).
    """

    se_reduction: int | None = None

    def __post_init__(self):
        if self.se_reduction is not None:
            v.check_positive_int("se_reduction", self.se_reduction)


@dataclasses.dataclass(frozen=True)
class PadProjection:
    """Strided subsampling + zero-padded channels ("option A")."""


@dataclasses.dataclass(frozen=True)
class NoProjection:
    """No shortcut where the shape changes (Res-SE-Net's "no bridge"
    ablation): such blocks output their residual alone."""


@dataclasses.dataclass(frozen=True)
class Shortcut:
    """The shortcut slot: one op for identity blocks, one for the rest."""

    identity: Identity | RGIdentity = Identity()
    projection: Projection | PadProjection | NoProjection = Projection()


# --------------------------------------------------------------------------
# Merges


@dataclasses.dataclass(frozen=True)
class AddMerge:
    """Plain elementwise sum."""


@dataclasses.dataclass(frozen=True)
class RoRMerge:
    """Refine-or-Represent channel merge with drop-layer (`RoRAdd`)."""

    represent_ratio: float = 0.05
    drop_rate: float = 0.2
    drop_mode: str = "batch"
    scale_at: str = "inference"

    def __post_init__(self):
        v.check_unit_interval("represent_ratio", self.represent_ratio)
        v.check_unit_interval("drop_rate", self.drop_rate)
        v.check_choice("drop_mode", self.drop_mode, ("batch", "sample"))
        v.check_choice("scale_at", self.scale_at, ("inference", "train"))


# --------------------------------------------------------------------------
# Residual bodies


@dataclasses.dataclass(frozen=True)
class BasicBody:
    """conv3x3(stride)-BN-ReLU-conv3x3-BN, optional SE on the residual."""

    se_reduction: int | None = None

    def __post_init__(self):
        if self.se_reduction is not None:
            v.check_positive_int("se_reduction", self.se_reduction)


@dataclasses.dataclass(frozen=True)
class BottleneckBody:
    """conv1x1-BN-ReLU-conv3x3(groups)-BN-ReLU-conv1x1-BN.

    `stride_at` is `"first"` (the stride in the first 1x1: He et al.'s
    ResNet v1) or `"middle"` (in the 3x3: "ResNet v1.5", PyTorch's and
    Torch's reference ResNets, and the CIFAR bottleneck ResNets/ResNeXt).
    `inner_rg_groups` wraps the 3x3 in an RG shortcut (d-RGSNet):
    `ReLU(BN(conv3x3(u)) + RG(u))`, only where the 3x3 has stride 1 (a
    strided 3x3 changes the spatial shape, so `"middle"` skips it in the
    first block of each strided stage). `se_reduction` applies SE to the
    residual before the merge (SE-ResNeXt).
    """

    groups: int = 1
    stride_at: str = "middle"
    inner_rg_groups: int | None = None
    se_reduction: int | None = None

    def __post_init__(self):
        v.check_positive_int("groups", self.groups)
        v.check_choice("stride_at", self.stride_at, ("first", "middle"))
        if self.inner_rg_groups is not None:
            v.check_positive_int("inner_rg_groups", self.inner_rg_groups)
        if self.se_reduction is not None:
            v.check_positive_int("se_reduction", self.se_reduction)


# --------------------------------------------------------------------------
# Blocks


@dataclasses.dataclass(frozen=True)
class ResidualBlock:
    """`post(merge(shortcut(x), body(x)))`, `post` = ReLU or identity."""

    body: BasicBody | BottleneckBody
    shortcut: Shortcut = Shortcut()
    merge: AddMerge | RoRMerge = AddMerge()
    post_relu: bool = True


@dataclasses.dataclass(frozen=True)
class SeqBlock:
    """SeqResNet residual block on the (raw, act) streams (docs/design.md).

    `dropout` is the spatial dropout of every SeqConv in the block;
    `dense=True` makes every SeqConv dense (Table 5's S2). A stage
    whose width differs from its input starts with a down-sampling block:
    a windowed extension SeqConv (with the previous stage's group width and
    subgroups), a concat, and a grouped 3x3/2 down-sizing conv.
    """

    bottleneck: bool = False
    dropout: float = 0.0
    dense: bool = False

    def __post_init__(self):
        v.check_float("dropout", self.dropout, low=0.0, high=1.0,
                      high_inclusive=False)


@dataclasses.dataclass(frozen=True)
class RiRBlock:
    """`layers` RiRConv layers on the (r, m) streams (ResNet in ResNet).

    Slots:
        inner_identity: the identity of each RiRConv on the residual
            stream. `"learnable"` puts it into the kernel's initialisation
            (Eq. 2's `W + I`, "ResNet Init"); `"fixed"` adds it as a
            constant (Eq. 1's `shortcut(r)`); `None`: no inner identity.
        outer_shortcut: the shortcut over the whole block, from the
            block's input to its last layer. `"residual"` joins the
            residual stream only (the transient stream has no identity
            connections); `"both"` joins both streams, which makes the
            block a plain ResNet unit of the total width; `None`: none.
        outer_join: where the outer shortcut joins the last layer:
            `"pre_relu"` (after its BN, inside the ReLU, like the last ReLU
            of a ResNet unit) or `"post_relu"` (after the ReLU).
        projection: where a layer or the block changes shape, use a
            learned 1x1 projection (option B) instead of subsampling and
            zero padding (option A), for the inner and outer shortcuts.

    The four models of the paper's Figure 2: RiR = learnable inner
    identity + residual outer shortcut; ResNet = `"both"` outer shortcut
    only; ResNet Init = learnable inner identity only; CNN = none.
    """

    layers: int = 2
    inner_identity: str | None = "learnable"
    outer_shortcut: str | None = "residual"
    outer_join: str = "pre_relu"
    projection: bool = False

    def __post_init__(self):
        v.check_positive_int("layers", self.layers)
        v.check_choice("inner_identity", self.inner_identity,
                       ("learnable", "fixed", None))
        v.check_choice("outer_shortcut", self.outer_shortcut,
                       ("residual", "both", None))
        v.check_choice("outer_join", self.outer_join,
                       ("pre_relu", "post_relu"))
        v.check_bool("projection", self.projection)


# --------------------------------------------------------------------------
# Stages, tails, heads and the network


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """A stage of `depth` blocks; the first block applies `stride`.

    `filters` is the stage's output width (for RiR: the residual stream's);
    `width` the inner width where the block has one (bottleneck or
    ResNeXt inner width; the transient stream's width for RiR); for
    SeqResNet, `group_width` and `subgroups` are the stage's k and c.
    """

    filters: int
    depth: int
    stride: int = 1
    width: int | None = None
    group_width: int | None = None
    subgroups: int = 1

    def __post_init__(self):
        v.check_positive_int("filters", self.filters)
        v.check_int("depth", self.depth, minimum=0)
        v.check_choice("stride", self.stride, (1, 2))
        if self.width is not None:
            v.check_positive_int("width", self.width)


@dataclasses.dataclass(frozen=True)
class FinalReLU:
    """ReLU after the last block (RGSNet's blocks end un-rectified)."""


@dataclasses.dataclass(frozen=True)
class SeqTail:
    """(Spatial dropout +) 1x1 "blender" conv + BN + ReLU on the act stream."""

    dropout: float = 0.0


@dataclasses.dataclass(frozen=True)
class DenseHead:
    """Global pooling + Dense classifier (keras.applications)."""


@dataclasses.dataclass(frozen=True)
class ConvHead:
    """1x1 conv + BN to `classes`, global average pooling, activation
    (RiR-18-wide)."""


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """A whole network, ready for `build_model`."""

    stem: object
    stages: tuple
    block: object
    tail: tuple = ()
    head: object = DenseHead()
    default_size: int = 32
    seed: int = 0
    init: str = "he"

    def __post_init__(self):
        v.check_int("seed", self.seed, minimum=0)
        v.check_choice("init", self.init, ("he", "seqconv"))

    @property
    def total_stride(self):
        stride = self.stem.stride
        for stage in self.stages:
            stride *= stage.stride
        return stride
