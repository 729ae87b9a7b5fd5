"""The search spaces of the five families, as data.

A `Param` describes one hyperparameter (its values or range, its default and
the paper passage they come from) and declares itself on a
`keras_tuner.HyperParameters`. A `FamilySpace` lists a family's
architecture parameters and maps chosen values to a registry model and its
builder keyword arguments. `training_space(recipe)` gives the parameters
that `VariantHyperModel.fit` tunes (batch size, learning rate, weight
decay), with the recipe's values as defaults.

Every point of every documented space builds: value sets are chosen so that
divisibility constraints hold for all combinations (e.g. SeqConv's `r` is
even so that `k = 32` divides every stage width). The tests check this.
"""

import dataclasses
import itertools
from typing import Callable

from keras_resvariants import _validation as v

KINDS = ("choice", "boolean", "float", "fixed")
SAMPLINGS = ("linear", "log")
_PRIMITIVES = (bool, int, float, str)


def check_fixed_value(name, value):
    """keras-tuner stores bools, ints, floats and strs only."""
    if not isinstance(value, _PRIMITIVES):
        raise ValueError(
            "A fixed value must be a bool, int, float or str. Received: "
            f"{name}={value!r}"
        )
    return value


@dataclasses.dataclass(frozen=True)
class Param:
    """One hyperparameter of a search space.

    Attributes:
        name: the hyperparameter's name; for architecture parameters, the
            builder argument it sets where there is one.
        kind: `"choice"` (`values`), `"boolean"`, `"float"` (`low`..`high`
            with `sampling`) or `"fixed"` (`default` only).
        default: value used before the search has information (keras-tuner
            starts conditional and Bayesian searches from it).
        values: the choices (kind `"choice"`).
        low, high, sampling: the range (kind `"float"`).
        source: the paper passage the values and default come from.
        condition: `None`, or `(parent_name, parent_values)`: the parameter
            is active only when the parent takes one of those values.
    """

    name: str
    kind: str
    default: object
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    sampling: str = "linear"
    source: str = ""
    condition: tuple | None = None

    def __post_init__(self):
        v.check_choice("kind", self.kind, KINDS)
        v.check_choice("sampling", self.sampling, SAMPLINGS)
        if self.kind == "choice" and self.default not in self.values:
            raise ValueError(
                f"`default` must be one of the values of {self.name!r} "
                f"{self.values}. Received: default={self.default!r}"
            )
        if self.kind == "float" and not (
            self.low <= self.default <= self.high
        ):
            raise ValueError(
                f"`default` must lie in [{self.low}, {self.high}] for "
                f"{self.name!r}. Received: default={self.default!r}"
            )

    @property
    def choices(self):
        """The finite set of values, or `None` for a float range."""
        if self.kind == "choice":
            return tuple(self.values)
        if self.kind == "boolean":
            return (False, True)
        if self.kind == "fixed":
            return (self.default,)
        return None

    def declare(self, hp):
        """Declares the parameter on `hp`; returns its current value (None
        when its condition is not met)."""
        cond = {}
        if self.condition is not None:
            cond = dict(parent_name=self.condition[0],
                        parent_values=list(self.condition[1]))
        if self.kind == "fixed":
            return hp.Fixed(self.name, self.default, **cond)
        if self.kind == "choice":
            return hp.Choice(self.name, list(self.values),
                             default=self.default, **cond)
        if self.kind == "boolean":
            return hp.Boolean(self.name, default=self.default, **cond)
        return hp.Float(self.name, self.low, self.high,
                        sampling=self.sampling, default=self.default, **cond)

    def fix(self, value):
        """This parameter fixed to `value` (its condition is kept)."""
        check_fixed_value(self.name, value)
        return dataclasses.replace(self, kind="fixed", default=value,
                                   values=(), low=None, high=None)

    def narrow(self, values):
        """This parameter restricted to `values`.

        A list (or set) of values makes a choice (a single value fixes the
        parameter); a `(low, high)` tuple narrows a float range. The
        default is kept if it is still allowed, else the first value (the
        low end of a range).
        """
        if isinstance(values, tuple) and self.kind == "float":
            if len(values) != 2 or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool)
                for x in values
            ) or not 0 < values[0] <= values[1]:
                raise ValueError(
                    f"A float range must be `(low, high)` with 0 < low <= "
                    f"high. Received: {self.name}={values!r}"
                )
            low, high = float(values[0]), float(values[1])
            if low == high:
                return self.fix(low)
            default = min(max(self.default, low), high)
            return dataclasses.replace(self, low=low, high=high,
                                       default=default)
        if isinstance(values, (set, frozenset)):
            values = sorted(values)
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(
                f"To narrow {self.name!r} pass a non-empty list of values"
                + (" or a (low, high) tuple" if self.kind == "float" else "")
                + f". Received: {self.name}={values!r}"
            )
        values = tuple(values)
        for value in values:
            if not isinstance(value, _PRIMITIVES):
                raise ValueError(
                    f"Values of {self.name!r} must be bools, ints, floats "
                    f"or strs. Received: {self.name}={values!r}"
                )
        if len(set(values)) == 1:
            return self.fix(values[0])
        if self.kind == "boolean" and set(values) == {False, True}:
            return self
        default = self.default if self.default in values else values[0]
        return dataclasses.replace(self, kind="choice", values=values,
                                   default=default, low=None, high=None)

    def to_dict(self):
        """JSON-friendly description."""
        out = {"name": self.name, "kind": self.kind,
               "default": self.default}
        if self.kind in ("choice", "boolean"):
            out["values"] = list(self.choices)
        if self.kind == "float":
            out.update(low=self.low, high=self.high, sampling=self.sampling)
        if self.condition is not None:
            out["condition"] = {self.condition[0]: list(self.condition[1])}
        out["source"] = self.source
        return out


@dataclasses.dataclass(frozen=True)
class FamilySpace:
    """A family's architecture search space.

    Attributes:
        family: registry family (`list_models(family=...)`).
        paper: the paper.
        params: architecture `Param`s, parents before their children.
        resolve: `values -> (registry key, builder kwargs)`; `values` holds
            the active parameters and any fixed `extras`.
        extras: builder arguments outside the space that can still be
            fixed (e.g. RoR's `seed`).
        replaces: extra name -> the parameters it overrides when fixed
            (RGS's `groups` replaces `group_scale`).
    """

    family: str
    paper: str
    params: tuple
    resolve: Callable
    extras: tuple = ()
    replaces: dict = dataclasses.field(default_factory=dict)

    @property
    def names(self):
        return tuple(p.name for p in self.params)

    def param(self, name):
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def points(self):
        """Every combination of the (finite) space as a dict of active
        values. Used by the tests to check that every point is valid."""
        names = self.names
        grids = [self.param(n).choices for n in names]
        for combo in itertools.product(*grids):
            values = dict(zip(names, combo))
            for p in self.params:
                if p.condition is not None and (
                    values.get(p.condition[0]) not in p.condition[1]
                ):
                    values.pop(p.name, None)
            yield values


# ---------------------------------------------------------------------------
# RoR


def _resolve_ror(values):
    kwargs = {k: values[k] for k in ("width", "represent_ratio", "drop_rate")}
    kwargs.update({k: values[k] for k in ("seed", "drop_mode", "scale_at")
                   if k in values})
    return f"ror_resnet_{values['depth']}", kwargs


ROR = FamilySpace(
    family="ror",
    paper="Shen & Gao, Refine or Represent: Residual Networks with Explicit "
          "Channel-wise Configuration, IJCAI 2018",
    params=(
        Param("depth", "choice", 56, values=(56, 110, 164),
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


# ---------------------------------------------------------------------------
# RGSNet


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
    paper="Zhang et al., Revisiting Residual Networks with Nonlinear "
          "Shortcuts, BMVC 2019",
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


# ---------------------------------------------------------------------------
# SeqConv


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
    paper="Huang et al., Sequentially Aggregated Convolutional Networks, "
          "ICCV Workshops 2019",
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
              source="§3.2 'Windowed layers' and Table 5: S1 (windowed, a "
                     "window of the input width) vs S2 (dense aggregation, "
                     "no window); windowed is better."),
        Param("subgroups", "choice", 1, values=(1, 2, 4, 8),
              condition=("block", ("bottleneck",)),
              source="§3.3 'Subgroups' and Table 2: c = 8, 8, 4, 4 in "
                     "SeqResNeXt-24, 1 in SeqResNet-B (bottleneck only)."),
    ),
    resolve=_resolve_seqconv,
    extras=("dropout",),
)


# ---------------------------------------------------------------------------
# Res-SE-Net


def _resolve_res_se(values):
    return f"res_se_net_{values['depth']}", {"reduction": values["reduction"]}


RES_SE = FamilySpace(
    family="res_se",
    paper="Varshaneya et al., Res-SE-Net: Boosting Performance of Resnets "
          "by Enhancing Bridge-connections, 2019",
    params=(
        Param("depth", "choice", 44, values=(20, 32, 44, 56, 110),
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


# ---------------------------------------------------------------------------
# RiR


def _resolve_rir(values):
    kwargs = {k: values[k] for k in ("blocks_per_stage", "layers_per_block",
                                     "mode", "transient_ratio")}
    if values["mode"] == "rir" and "shortcut" in values:
        kwargs["shortcut"] = values["shortcut"]
    return "rir_net", kwargs


RIR = FamilySpace(
    family="rir",
    paper="Targ, Almeida & Lyman, Resnet in Resnet: Generalizing Residual "
          "Architectures, 2016",
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


FAMILIES = {space.family: space for space in (ROR, RGS, RIR, RES_SE, SEQCONV)}


def get_family_space(family):
    """The `FamilySpace` of `family` (`"ror"`, `"rgs"`, `"rir"`,
    `"res_se"` or `"seqconv"`)."""
    v.check_choice("family", family, tuple(FAMILIES))
    return FAMILIES[family]


# ---------------------------------------------------------------------------
# Training hyperparameters (tuned in `VariantHyperModel.fit`)

TRAINING_NAMES = ("batch_size", "learning_rate", "weight_decay")
_TRAINING_SOURCE = (
    "The papers' recipes (keras_resvariants.recipes): RoR §4.1 lr 0.01, "
    "batch 128; RGSNet §4.2 lr 0.1, wd 5e-4; Res-SE-Net Table 3 lr 0.1, wd "
    "1e-4, batch 128; SeqConv §4.1 lr 0.1, wd 1e-4, batch 64; RiR §3 "
    "grid-searched learning rate and L2 penalty without giving values."
)


def training_space(recipe):
    """`batch_size`, `learning_rate` and `weight_decay` with `recipe`'s
    values as defaults.

    Ranges: batch size 32 to 256 (the papers use 64 and 128); learning rate
    1e-3 to 0.2, log-uniform (the papers use 0.01 to 0.1); weight decay
    (the papers' λ, an L2 term on kernels) 1e-5 to 1e-3, log-uniform (the
    papers use 1e-4 and 5e-4).
    """
    return (
        Param("batch_size", "choice", recipe.batch_size,
              values=tuple(sorted({32, 64, 128, 256, recipe.batch_size})),
              source=_TRAINING_SOURCE),
        Param("learning_rate", "float", recipe.learning_rate, low=1e-3,
              high=0.2, sampling="log", source=_TRAINING_SOURCE),
        Param("weight_decay", "float", recipe.weight_decay, low=1e-5,
              high=1e-3, sampling="log", source=_TRAINING_SOURCE),
    )
