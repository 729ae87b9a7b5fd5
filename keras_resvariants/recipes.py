"""The papers' training recipes, as data.

A `Recipe` is a frozen dataclass: optimizer, momentum, Nesterov, initial
learning rate, schedule, global batch size, weight decay, length of
training, augmentation and model overrides. Each family module of
`keras_resvariants.models` declares its paper's recipes in its `Family`
record (the first is the family's default, `recipe_for_model`); `quick`,
for smoke runs and the accuracy study, is ours:

| name | paper | SGD | lr, schedule | batch | wd | length |
|---|---|---|---|---|---|---|
| `resnet` | He et al. | 0.9 | 0.1, /10 at 32k, 48k it | 128 | 1e-4 | 64k |
| `ror` | RoR | 0.9 | 0.01, /10 at 50%, 75% | 128 | 1e-4* | 300 ep |
| `rgs_cifar` | RGSNet | 0.9 | 0.1, /10 at ep 82, 124 | 128 | 5e-4 | 164 ep |
| `res_se_net` | Res-SE-Net | 0.9 | 0.1, /10 at 32k, 48k it | 128 | 1e-4 | 64k |
| `seqconv` | SeqConv | N 0.9 | 0.1, /10 at ep 150, 225 | 64 | 1e-4 | 300 ep |
| `rir` | He et al.** | 0.9 | 0.1, /10 at 32k, 48k it | 128 | 1e-4 | 64k |
| `quick` | ours | N 0.9 | 0.1, cosine to 0 | 128 | 5e-4 | 1 ep |

(N: Nesterov momentum; 64k = 64,000 iterations.)
`*` The RoR paper states no weight decay; we use He et al.'s 1e-4 (the
value of the PyTorch CIFAR ResNet code RoR builds on). `**` The RiR paper
reports only "the best result of a grid search" over learning rate, L2
penalty, initialisation and shortcut type, so its recipe is `resnet`, He et
al.'s CIFAR schedule (the ResNet baseline RiR compares against), under its
own name. Neither applies the 400-step 0.01 warm-up that He et al. use only
for ResNet-110.

ImageNet recipes: `ror_imagenet` (80 epochs, lr 0.01 /10 at 50%/75%),
`rgs_imagenet` (batch 128, lr 0.05, /10 every 30 of 90 epochs; the paper's
linear-scaling of 0.1 @ 256) and `seqconv_imagenet` (Nesterov, batch 256,
lr 0.1, /10 every 30 of 100 epochs).

**Weight decay** `weight_decay` is the papers' λ, i.e. PyTorch's
`SGD(weight_decay=λ)`, which adds `λ·w` to the gradient of every parameter
handed to it, normally `model.parameters()`: all of them. That is the
gradient of the loss term `(λ / 2)·||w||²`, so we add
`keras.regularizers.L2(λ / 2)` to every trainable variable: kernels,
biases, BatchNorm/GroupNorm γ and β (`weight_decay_scope="all"`, every
recipe). `weight_decay_scope="kernels"` decays conv and dense kernels only.
See `keras_resvariants.training.apply_weight_decay`.

**Schedules across epochs and dataset sizes.** Every milestone is
converted to a fraction of the recipe's own training length (82/164 epochs
= 0.5; 32k/64k iterations = 0.5; RoR's 50% = 0.5), and placed at
`round(fraction × total_steps)` of the run actually made, where
`total_steps = epochs × steps_per_epoch`. So the schedule keeps its shape
when the user changes `--epochs` or trains on another dataset or subset.
The default number of epochs of an iteration-based recipe is its iteration
budget over the steps per epoch, rounded: 64k iterations at batch 128 on
CIFAR's 50k images (390 steps per epoch) is 164 epochs. A milestone step is
the first optimizer step that uses the decayed rate.
"""

import collections.abc
import dataclasses
import math

from keras_resvariants import _catalog as catalog
from keras_resvariants import _validation as v

SCHEDULES = ("step", "cosine", "constant")
MILESTONE_UNITS = ("fraction", "epoch", "iteration")
AUGMENTATIONS = ("standard", "none")
WEIGHT_DECAY_SCOPES = ("all", "kernels")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A paper's training recipe.

    Args:
        name: str. Recipe name (`RECIPES` key).
        source: str. Where the numbers come from.
        learning_rate: float. Initial learning rate.
        batch_size: int. Global batch size (over all replicas).
        weight_decay: float. The papers' λ (PyTorch `weight_decay`); the
            loss gets `(λ/2)·||w||²` over the variables of
            `weight_decay_scope`.
        weight_decay_scope: `"all"` (every trainable variable: kernels,
            biases, BatchNorm/GroupNorm γ and β, as the papers' PyTorch
            SGD) or `"kernels"` (conv and dense kernels only). Defaults to
            `"all"`.
        epochs: int or None. Training length in epochs; `None` for an
            iteration budget (`iterations`).
        iterations: int or None. Training length in optimizer steps.
        schedule: `"step"` (divide by `1/lr_decay` at each milestone),
            `"cosine"` (to 0 over the run) or `"constant"`.
        milestones: tuple of numbers, in `milestone_unit`.
        milestone_unit: `"fraction"` (of training), `"epoch"` or
            `"iteration"`.
        lr_decay: float. Factor applied at each milestone. Defaults to
            `0.1`.
        optimizer: `"sgd"`.
        momentum: float. Defaults to `0.9`.
        nesterov: bool. Defaults to `False`.
        augmentation: `"standard"` (the dataset's paper augmentation) or
            `"none"`.
        model_kwargs: tuple of `(name, value)` builder hyperparameters the
            paper trains with; applied when the chosen network accepts
            them.
        notes: str. Deviations and assumptions.

    Example:

    >>> recipe = keras_resvariants.recipes.get_recipe("rgs_cifar")
    >>> recipe.boundaries(total_steps=164 * 390)  # epochs 82 and 124
    (31980, 48360)
    >>> recipe.boundaries(total_steps=10 * 390)  # a 10-epoch run: scaled
    (1950, 2949)
    >>> recipe.weight_decay_scope  # PyTorch SGD: every parameter decayed
    'all'
    """

    name: str
    source: str
    learning_rate: float
    batch_size: int
    weight_decay: float
    epochs: int | None = None
    iterations: int | None = None
    schedule: str = "step"
    milestones: tuple = ()
    milestone_unit: str = "fraction"
    lr_decay: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    augmentation: str = "standard"
    model_kwargs: tuple = ()
    notes: str = ""
    weight_decay_scope: str = "all"

    def __post_init__(self):
        v.check_positive_float("learning_rate", self.learning_rate)
        v.check_positive_int("batch_size", self.batch_size)
        v.check_float("weight_decay", self.weight_decay, low=0.0, high=1.0)
        v.check_choice("weight_decay_scope", self.weight_decay_scope,
                       WEIGHT_DECAY_SCOPES)
        v.check_choice("schedule", self.schedule, SCHEDULES)
        v.check_choice("milestone_unit", self.milestone_unit,
                       MILESTONE_UNITS)
        v.check_choice("optimizer", self.optimizer, ("sgd",))
        v.check_float("momentum", self.momentum, low=0.0, high=1.0,
                      high_inclusive=False)
        v.check_bool("nesterov", self.nesterov)
        v.check_choice("augmentation", self.augmentation, AUGMENTATIONS)
        v.check_float("lr_decay", self.lr_decay, low=0.0, high=1.0)
        if (self.epochs is None) == (self.iterations is None):
            raise ValueError(
                "Exactly one of `epochs` and `iterations` must be set. "
                f"Received: epochs={self.epochs!r}, "
                f"iterations={self.iterations!r}"
            )
        if self.epochs is not None:
            v.check_positive_int("epochs", self.epochs)
        else:
            v.check_positive_int("iterations", self.iterations)
        fractions = self.milestone_fractions()
        if any(not 0.0 < f < 1.0 for f in fractions) or list(
            fractions
        ) != sorted(fractions):
            raise ValueError(
                "`milestones` must be increasing and lie strictly inside "
                "the training length. Received: "
                f"milestones={self.milestones!r} ({self.milestone_unit})"
            )

    @property
    def length(self):
        """Training length in the recipe's own unit (epochs or steps)."""
        return self.epochs if self.epochs is not None else self.iterations

    def milestone_fractions(self):
        """Milestones as fractions of the recipe's training length."""
        if self.milestone_unit == "fraction":
            return tuple(float(m) for m in self.milestones)
        if self.milestone_unit == "epoch" and self.epochs is None:
            raise ValueError(
                "`milestone_unit='epoch'` needs `epochs`. Received: "
                f"epochs=None, iterations={self.iterations}"
            )
        if self.milestone_unit == "iteration" and self.iterations is None:
            raise ValueError(
                "`milestone_unit='iteration'` needs `iterations`. Received: "
                f"iterations=None, epochs={self.epochs}"
            )
        return tuple(m / self.length for m in self.milestones)

    def default_epochs(self, steps_per_epoch):
        """Epochs of a run with `steps_per_epoch` steps per epoch."""
        steps_per_epoch = v.check_positive_int("steps_per_epoch",
                                               steps_per_epoch)
        if self.epochs is not None:
            return self.epochs
        return max(1, int(round(self.iterations / steps_per_epoch)))

    def boundaries(self, total_steps):
        """Milestone steps of a run of `total_steps` optimizer steps: the
        first step that uses each decayed rate."""
        total_steps = v.check_positive_int("total_steps", total_steps)
        return tuple(
            int(round(f * total_steps)) for f in self.milestone_fractions()
        )

    def learning_rate_at(self, step, total_steps, learning_rate=None):
        """Reference learning rate at `step` (0-based) of `total_steps`,
        computed in plain Python (the optimizer uses
        `keras_resvariants.training.make_schedule`)."""
        lr = self.learning_rate if learning_rate is None else learning_rate
        if self.schedule == "constant":
            return lr
        if self.schedule == "cosine":
            t = min(step, total_steps) / total_steps
            return lr * 0.5 * (1.0 + math.cos(math.pi * t))
        passed = sum(step >= b for b in self.boundaries(total_steps))
        return lr * self.lr_decay**passed

    def with_overrides(self, **changes):
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """JSON-friendly dict of the fields."""
        out = dataclasses.asdict(self)
        out["model_kwargs"] = dict(self.model_kwargs)
        out["milestones"] = list(self.milestones)
        return out

    @classmethod
    def from_dict(cls, config):
        """The recipe of a `to_dict()` dict (e.g. the `recipe` entry of a
        run's `run_config.json`).

        Fields missing from `config` take their defaults, so a dict written
        before a field existed still loads. Note that runs recorded before
        `weight_decay_scope` existed decayed kernels only; their dict loads
        with the current default, `"all"`.

        Args:
            config: dict of `Recipe` fields.
        """
        if not isinstance(config, dict):
            raise ValueError(
                "`config` must be a dict of `Recipe` fields. Received: "
                f"config={config!r}"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ValueError(
                f"`config` has unknown `Recipe` fields {unknown}. Received: "
                f"config={config!r}"
            )
        config = dict(config)
        if isinstance(config.get("model_kwargs"), dict):
            config["model_kwargs"] = tuple(config["model_kwargs"].items())
        if "milestones" in config:
            config["milestones"] = tuple(config["milestones"])
        return cls(**config)


QUICK = Recipe(
    name="quick",
    source="keras-resvariants smoke-run recipe (not from a paper)",
    learning_rate=0.1, batch_size=128, weight_decay=5e-4, epochs=1,
    schedule="cosine", nesterov=True,
    notes="One cosine cycle: ~0.84 test accuracy on Fashion-MNIST "
          "after 1 epoch of ResNet-20 (docs/benchmarks.md).",
)


class _Live(collections.abc.Mapping):
    """A read-only view computed from the catalog at each access (the
    family modules declare their recipes after this module is loaded)."""

    def __init__(self, items):
        self._items = items

    def __getitem__(self, key):
        return dict(self._items())[key]

    def __iter__(self):
        return iter(dict(self._items()))

    def __len__(self):
        return len(dict(self._items()))

    def __repr__(self):
        return repr(dict(self._items()))


def _recipes():
    for family in catalog.FAMILIES.values():
        for recipe in family.recipes:
            yield recipe.name, recipe
    yield QUICK.name, QUICK


# name -> Recipe: every family's recipes (declared in its module of
# `keras_resvariants.models`) and `quick`.
RECIPES = _Live(_recipes)
# family id -> the name of its default recipe.
FAMILY_RECIPES = _Live(lambda: ((f.id, f.recipe.name)
                                for f in catalog.FAMILIES.values()
                                if f.recipes))


def list_recipes():
    """Recipe names, sorted."""
    return sorted(RECIPES)


def get_recipe(name):
    """Returns the recipe `name` (a `Recipe` passes through).

    Args:
        name: a `RECIPES` key or a `Recipe`.
    """
    if isinstance(name, Recipe):
        return name
    v.check_choice("recipe", name, tuple(list_recipes()))
    return RECIPES[name]


def family_recipe(family):
    """The default recipe of `family` (a family id): its paper's."""
    return catalog.get_family(family).recipe


def recipe_for_model(model_name):
    """The recipe of a registered model's paper (its family's default);
    a `ValueError` for an unknown model."""
    return family_recipe(catalog.arch_entry(model_name).family)


def model_arguments(recipe_kwargs, model_kwargs, accepted):
    """The builder hyperparameters of a run: the recipe's `model_kwargs`
    that the network accepts (one recipe serves a whole family, whose
    networks take different hyperparameters), then the run's own
    `model_kwargs`, which win. `train()` builds with these and publishing
    rebuilds with them.

    Args:
        recipe_kwargs: the recipe's `model_kwargs` (pairs or a dict).
        model_kwargs: the run's hyperparameters (a dict or `None`).
        accepted: the names the network's builder accepts.

    Returns:
        A dict.
    """
    out = {k: val for k, val in dict(recipe_kwargs or {}).items()
           if k in accepted}
    out.update(model_kwargs or {})
    return out
