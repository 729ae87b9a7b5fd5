"""Architecture search spaces as data: `Param` and `FamilySpace`.

A `Param` describes one hyperparameter (its values or range, its default and
the paper passage they come from) and declares itself on a
`keras_tuner.HyperParameters` (duck-typed: nothing here imports
keras-tuner). A `FamilySpace` lists a family's architecture parameters and
maps chosen values to a registry model and its builder keyword arguments.
Each family module of `keras_resvariants.models` declares its paper's space
beside its networks; `keras_resvariants.tuning` searches them.

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
