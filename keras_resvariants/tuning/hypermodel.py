"""keras-tuner `HyperModel`s over each family's paper knobs."""

import contextlib
import dataclasses
import functools
import math
import textwrap

import keras
import keras_tuner as kt

from keras_resvariants import _catalog as catalog
from keras_resvariants import _validation as v
from keras_resvariants import data as data_lib
from keras_resvariants import recipes as recipes_lib
from keras_resvariants.models import create_model
from keras_resvariants.models import model_info
from keras_resvariants.training.compiling import compile_for_recipe
from keras_resvariants.tuning import space as space_lib


@dataclasses.dataclass(frozen=True)
class TuningData:
    """The data of a search, built per trial for the trial's batch size.

    Calling it with a batch size returns the training package's pipelines
    (`keras_resvariants.data.make_datasets`): endless, augmented training
    batches and a held-out validation split (the objective is measured on
    it; the test split is never used for choosing hyperparameters).

    Args:
        dataset: `"fashion_mnist"`, `"cifar10"`, `"cifar100"` or
            `"imagenet2012"`. Defaults to `"fashion_mnist"`.
        train_subset: int. Train on the first N training examples only.
        validation_split: fraction in (0, 1) or number of training
            examples held out for validation. Defaults to `0.1`.
        data_dir, download, pipeline: see `make_datasets`.
        augment: bool. The dataset's paper augmentation. Defaults to `True`.
        seed: int. Seed of the hold-out draw, shuffling and augmentation.
    """

    dataset: str = "fashion_mnist"
    train_subset: int | None = None
    validation_split: float | int = 0.1
    data_dir: str | None = None
    download: bool = False
    pipeline: str = "auto"
    augment: bool = True
    seed: int = 0

    def __post_init__(self):
        data_lib.get_dataset_info(self.dataset)
        if not self.validation_split:
            raise ValueError(
                "`validation_split` must hold out examples for the search "
                "objective: a fraction in (0, 1) or a count >= 1. Received: "
                f"validation_split={self.validation_split!r}"
            )
        if self.train_subset is not None:
            v.check_positive_int("train_subset", self.train_subset)
        v.check_bool("augment", self.augment)
        v.check_int("seed", self.seed)

    @property
    def info(self):
        return data_lib.get_dataset_info(self.dataset)

    def __call__(self, batch_size):
        return data_lib.make_datasets(
            self.dataset, batch_size=batch_size, data_dir=self.data_dir,
            download=self.download, validation_split=self.validation_split,
            train_subset=self.train_subset, augment=self.augment,
            seed=self.seed, pipeline=self.pipeline,
        )


def _check_input_shape(input_shape):
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 3
        or any(isinstance(d, bool) or not isinstance(d, int) or d < 1
               for d in input_shape)
    ):
        raise ValueError(
            "`input_shape` must be (height, width, channels) with positive "
            f"ints. Received: input_shape={input_shape!r}"
        )
    return tuple(input_shape)


class VariantHyperModel(kt.HyperModel):
    """A `keras_tuner.HyperModel` over one family's paper hyperparameters.

    `build(hp)` builds the family's registry network for the chosen
    architecture values and compiles it (SGD with the recipe's momentum,
    sparse categorical cross-entropy, accuracy). `fit(hp, model, ...)`
    tunes the batch size, the learning rate and the weight decay: it
    attaches the weight decay as an L2 term on the recipe's
    `weight_decay_scope` (every trainable variable by default, as the
    papers' PyTorch SGD), as `keras_resvariants.training` does
    (`apply_weight_decay`), recompiles with the recipe's schedule scaled
    to the run, and trains. The whole space is declared up front
    (`declare_hyperparameters`), so every tuner knows it from the first
    trial.

    The family subclasses (`HYPERMODELS`: `RoRHyperModel`, `RGSHyperModel`,
    ...), generated from the spaces the family modules declare, document
    them; `family_space` holds the paper space as data
    (`keras_resvariants.tuning.space`), `search_space()` the effective one
    after `fixed` and `space`.

    Training parameters, for every family (defaults: the family recipe's):

    - `batch_size`: one of 32, 64, 128, 256 (and the recipe's); the papers
      use 64 (SeqConv §4.2) and 128.
    - `learning_rate`: 0.001 to 0.2, log-uniform; the papers use 0.01
      (RoR §4.1) to 0.1.
    - `weight_decay`: 1e-05 to 0.001, log-uniform; the papers' λ is 1e-4
      or 5e-4 (RGSNet §4.2).

    Args:
        family: `"ror"`, `"rgs"`, `"rir"`, `"res_se"` or `"seqconv"`
            (implied by the subclasses).
        input_shape: `(height, width, channels)` of the images.
        classes: int. Number of classes.
        fixed: dict name -> value. Fixes any hyperparameter of the space,
            or a builder argument outside it (RoR's `seed`, `drop_mode`,
            `scale_at`; RGS's `groups` (replacing `group_scale`) and
            `stem`; SeqConv's `dropout`).
        space: dict name -> values narrowing the space: a list of values
            (a choice; one value fixes the parameter) or, for a float
            parameter, a `(low, high)` tuple.
        recipe: a recipe name or `Recipe`, or `"auto"` (the family's
            paper recipe): momentum, Nesterov flag, schedule shape and the
            defaults of the training parameters.
        seed: int or None. Global Keras seed set before every build, so
            trials start from comparable weights; also RoR's split seed.
            Defaults to `0`.
        run_eagerly, jit_compile: passed to `compile`.
        distribution_strategy: the `tf.distribute.Strategy` the tuner
            builds under (recompiling in `fit` uses it too).
        num_replicas: int. Data-parallel replicas; batch sizes that they
            do not divide are removed from the space.

    Example:

    One small trial on Fashion-MNIST (a real search: `max_trials` of 4 or
    more, `train_subset=2048, validation_split=1000, epochs=2`):

    >>> import keras_tuner
    >>> hypermodel = keras_resvariants.tuning.ResSEHyperModel(
    ...     input_shape=(28, 28, 1), classes=10, fixed={"depth": 20})
    >>> tuner = keras_tuner.RandomSearch(
    ...     hypermodel, objective="val_accuracy", max_trials=1,
    ...     directory="runs", project_name="res_se_hypermodel")
    >>> tuner.search(data=keras_resvariants.tuning.TuningData(
    ...     train_subset=128, validation_split=64), epochs=1, verbose=0)
    >>> len(tuner.oracle.trials)
    1
    """

    family = None

    def __init__(self, family=None, *, input_shape, classes, fixed=None,
                 space=None, recipe="auto", seed=0, run_eagerly=False,
                 jit_compile="auto", distribution_strategy=None,
                 num_replicas=1, name=None):
        family = family or type(self).family
        self.family_space = space_lib.get_family_space(family)
        if type(self).family is not None and family != type(self).family:
            raise ValueError(
                f"`family` must be {type(self).family!r} for "
                f"{type(self).__name__}. Received: family={family!r}"
            )
        super().__init__(name=name or f"{family}_hypermodel")
        self.input_shape = _check_input_shape(input_shape)
        self.classes = v.check_positive_int("classes", classes)
        if recipe == "auto":
            recipe = recipes_lib.family_recipe(family)
        self.recipe = recipes_lib.get_recipe(recipe)
        self.seed = None if seed is None else v.check_int("seed", seed)
        v.check_bool("run_eagerly", run_eagerly)
        self.run_eagerly = run_eagerly
        self.jit_compile = jit_compile
        self.distribution_strategy = distribution_strategy
        self.num_replicas = v.check_positive_int("num_replicas",
                                                 num_replicas)
        self.fixed = dict(fixed or {})
        self.narrowed = dict(space or {})
        self.params, self.training_params, self.extras = self._resolve_space(
            self.fixed, self.narrowed
        )

    # -- the space ---------------------------------------------------------

    def _resolve_space(self, fixed, narrowed):
        family = self.family_space
        training = space_lib.training_space(self.recipe)
        known = family.names + space_lib.TRAINING_NAMES
        for name in narrowed:
            if name not in known:
                raise ValueError(
                    f"`space` names unknown hyperparameter {name!r} of the "
                    f"{family.family!r} family. Accepted: "
                    f"{', '.join(known)}. Received: space={narrowed!r}"
                )
        for name in fixed:
            if name not in known + family.extras:
                raise ValueError(
                    f"`fixed` names unknown hyperparameter {name!r} of the "
                    f"{family.family!r} family. Accepted: "
                    f"{', '.join(known + family.extras)}. Received: "
                    f"fixed={fixed!r}"
                )
            if name in narrowed:
                raise ValueError(
                    f"{name!r} is both fixed and narrowed; pass it in one "
                    f"of `fixed` and `space`. Received: fixed={fixed!r}, "
                    f"space={narrowed!r}"
                )
        dropped = {n for extra in fixed
                   for n in family.replaces.get(extra, ())}

        def apply(param):
            if param.name in fixed:
                return param.fix(fixed[param.name])
            if param.name in narrowed:
                return param.narrow(narrowed[param.name])
            return param

        params = tuple(apply(p) for p in family.params
                       if p.name not in dropped)
        training = [apply(p) for p in training]
        if self.num_replicas > 1:
            training[0] = self._divisible_batches(training[0])
        extras = {n: fixed[n] for n in family.extras if n in fixed}
        for name, value in extras.items():
            space_lib.check_fixed_value(name, value)
        return params, tuple(training), extras

    def _divisible_batches(self, param):
        choices = [b for b in param.choices if b % self.num_replicas == 0]
        if not choices:
            raise ValueError(
                f"`batch_size` must be divisible by the {self.num_replicas} "
                f"replicas. Received: batch_size values {param.choices}"
            )
        return param.narrow(choices) if len(choices) != len(
            param.choices) else param

    def search_space(self):
        """The effective space (after `fixed` and `space`) as a list of
        dicts: name, kind, values or range, default, condition, source."""
        out = [p.to_dict() for p in self.params + self.training_params]
        out += [{"name": n, "kind": "fixed", "default": val,
                 "source": "builder argument"}
                for n, val in self.extras.items()]
        return out

    def declare_hyperparameters(self, hp):
        for param in self.params + self.training_params:
            param.declare(hp)
        for name, value in self.extras.items():
            hp.Fixed(name, value)

    def architecture(self, values):
        """`(registry key, builder kwargs)` for a dict of hyperparameter
        values (as in `trial.hyperparameters.values`)."""
        active = {}
        for param in self.params:
            if param.condition is not None and values.get(
                param.condition[0]
            ) not in param.condition[1]:
                continue
            if param.name in values:
                active[param.name] = values[param.name]
        active.update({n: values.get(n, val)
                       for n, val in self.extras.items()})
        key, kwargs = self.family_space.resolve(active)
        accepted = model_info(key)["hyperparameters"]
        if "seed" in accepted and "seed" not in kwargs and (
            self.seed is not None
        ):
            kwargs["seed"] = self.seed
        return key, kwargs

    # -- keras-tuner hooks -------------------------------------------------

    def build(self, hp):
        values = {}
        for param in self.params:
            value = param.declare(hp)
            if value is not None:
                values[param.name] = value
        for name, value in self.extras.items():
            values[name] = hp.Fixed(name, value)
        key, kwargs = self.architecture(values)
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        model = create_model(key, input_shape=self.input_shape,
                             classes=self.classes, **kwargs)
        # The training values are read, not declared: `fit` declares them.
        # They are known here when the tuner declared the whole space or
        # rebuilds a finished trial (`get_best_models`).
        defaults = {p.name: p.default for p in self.training_params}
        learning_rate = hp.values.get("learning_rate",
                                      defaults["learning_rate"])
        weight_decay = hp.values.get("weight_decay",
                                     defaults["weight_decay"])
        self._compile(model, None, learning_rate, weight_decay)
        return model

    def fit(self, hp, model, *args, data=None, epochs=1, **kwargs):
        """Trains `model` with the trial's batch size, learning rate and
        weight decay.

        Args:
            hp: the trial's `keras_tuner.HyperParameters`.
            model: the model from `build(hp)`.
            *args: `x, y` arrays, when `data` is not given.
            data: a `TuningData` (or any callable `batch_size ->
                keras_resvariants.data.DataSplits`). Its validation split
                becomes `validation_data`.
            epochs: int. Epochs to train.
            **kwargs: passed to `model.fit` (`callbacks`, `verbose`,
                `initial_epoch`, `validation_data` with arrays...).

        Returns:
            The `keras.callbacks.History`.
        """
        batch_size, learning_rate, weight_decay = (
            p.declare(hp) for p in self.training_params
        )
        if batch_size % self.num_replicas:
            raise ValueError(
                f"`batch_size` must be divisible by the {self.num_replicas}"
                f" replicas. Received: batch_size={batch_size}"
            )
        epochs = v.check_positive_int("epochs", epochs)
        if data is not None:
            if args or "x" in kwargs:
                raise ValueError(
                    "Pass either `data` or `x, y` arrays to fit, not both. "
                    f"Received: data={data!r} and {len(args)} positional "
                    "argument(s)"
                )
            splits = data(batch_size)
            if splits.validation is None and "validation_data" not in kwargs:
                raise ValueError(
                    "The search objective needs validation data: give "
                    "`data` a `validation_split`. Received: data="
                    f"{data!r}"
                )
            kwargs.setdefault("validation_data", splits.validation)
            kwargs["steps_per_epoch"] = splits.steps_per_epoch
            kwargs.setdefault("shuffle", False)  # the pipeline shuffles
            args = (splits.train,)
            steps = splits.steps_per_epoch
        else:
            x = args[0] if args else kwargs.get("x")
            if not hasattr(x, "shape") or not hasattr(x, "__len__"):
                raise ValueError(
                    "Without `data`, fit needs in-memory arrays `x, y` so "
                    "that the batch size can be tuned; for datasets pass "
                    "`data=TuningData(...)` or a callable `batch_size -> "
                    f"DataSplits`. Received: x of type {type(x).__name__}"
                )
            kwargs["batch_size"] = batch_size
            steps = max(1, math.ceil(len(x) / batch_size))
        self._compile(model, epochs * steps, learning_rate, weight_decay)
        return model.fit(*args, epochs=epochs, **kwargs)

    # -- helpers -----------------------------------------------------------

    def _compile(self, model, total_steps, learning_rate, weight_decay):
        scope = (self.distribution_strategy.scope()
                 if self.distribution_strategy is not None
                 else contextlib.nullcontext())
        with scope:
            compile_for_recipe(model, self.recipe, total_steps,
                               learning_rate=learning_rate,
                               weight_decay=weight_decay,
                               jit_compile=self.jit_compile,
                               run_eagerly=self.run_eagerly)


def _values(param):
    if param.kind == "float":
        return f"{param.low} to {param.high} ({param.sampling})"
    if param.kind == "fixed":
        return f"fixed at {param.default!r}"
    return "one of " + ", ".join(repr(c) for c in param.choices)


def _family_doc(family):
    """The docstring of a family's hypermodel, from its search space."""
    space = family.space
    wrap = functools.partial(textwrap.fill, width=76, initial_indent="- ",
                             subsequent_indent="  ")
    lines = [
        f"{family.title}: a `VariantHyperModel` over "
        f"{', '.join(f'`{n}`' for n in space.names)}.",
        "",
        "Reference:",
        f"    - {family.citation}.",
        "",
        "Architecture space (declared in "
        f"`keras_resvariants.models.{family.id}`):",
        "",
    ]
    for param in space.params:
        when = ""
        if param.condition is not None:
            parent, values = param.condition
            when = (f"; only with `{parent}` "
                    f"{' or '.join(repr(x) for x in values)}")
        lines.append(wrap(f"`{param.name}`: {_values(param)}; default "
                          f"{param.default!r}{when}. {param.source}"))
    extras = ""
    if space.extras:
        extras = ("Fixable builder arguments: "
                  f"{', '.join(f'`{e}`' for e in space.extras)}. ")
    lines += ["", textwrap.fill(
        extras + "Training parameters and arguments: see "
        "`VariantHyperModel`.", width=76)]
    return "\n".join(lines) + "\n"


# family id -> its hypermodel class (`RoRHyperModel`, ...), generated from
# the search spaces the family modules declare.
HYPERMODELS = {
    family.id: type(family.hypermodel, (VariantHyperModel,), {
        "family": family.id,
        "__doc__": _family_doc(family),
        "__module__": __name__,
        "__qualname__": family.hypermodel,
    })
    for family in catalog.FAMILIES.values()
    if family.space is not None
}
globals().update({cls.__name__: cls for cls in HYPERMODELS.values()})


def make_hypermodel(family, **kwargs):
    """The family's `VariantHyperModel` subclass, instantiated with
    `kwargs` (see `VariantHyperModel`)."""
    v.check_choice("family", family, tuple(HYPERMODELS))
    return HYPERMODELS[family](**kwargs)


__all__ = [
    "HYPERMODELS",
    "TuningData",
    "VariantHyperModel",
    "make_hypermodel",
    *sorted(cls.__name__ for cls in HYPERMODELS.values()),
]
