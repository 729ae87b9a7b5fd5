"""keras-tuner `HyperModel`s over each family's paper knobs."""

import contextlib
import dataclasses
import math

import keras
import keras_tuner as kt

from keras_resvariants import _validation as v
from keras_resvariants import data as data_lib
from keras_resvariants import recipes as recipes_lib
from keras_resvariants.models import create_model
from keras_resvariants.models import model_info
from keras_resvariants.training.regularization import apply_weight_decay
from keras_resvariants.training.schedules import make_optimizer
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

    The family subclasses (`RoRHyperModel`, `RGSHyperModel`,
    `RiRHyperModel`, `ResSEHyperModel`, `SeqConvHyperModel`) document their
    spaces; `family_space` holds the paper space as data
    (`keras_resvariants.tuning.space`), `search_space()` the effective one
    after `fixed` and `space`.

    Training parameters, for every family (defaults: the family recipe's):

    - `batch_size`: one of 32, 64, 128, 256 (and the recipe's); the papers
      use 64 (SeqConv §4.1) and 128.
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
            recipe = recipes_lib.FAMILY_RECIPES[family]
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
        apply_weight_decay(model, weight_decay,
                           scope=self.recipe.weight_decay_scope)
        self._compile(model, lambda: keras.optimizers.SGD(
            learning_rate=learning_rate, momentum=self.recipe.momentum,
            nesterov=self.recipe.nesterov,
        ))
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
        apply_weight_decay(model, weight_decay,
                           scope=self.recipe.weight_decay_scope)
        self._compile(model, lambda: make_optimizer(
            self.recipe, epochs * steps, learning_rate=learning_rate
        ))
        return model.fit(*args, epochs=epochs, **kwargs)

    # -- helpers -----------------------------------------------------------

    def _compile(self, model, make_optimizer_fn):
        scope = (self.distribution_strategy.scope()
                 if self.distribution_strategy is not None
                 else contextlib.nullcontext())
        with scope:
            # The optimizer must be created in the strategy's scope: on
            # TensorFlow it binds to the strategy current at construction.
            # `loss=` and `metrics=` by keyword: Keras 3's third positional
            # argument of `compile` is `loss_weights`.
            model.compile(
                optimizer=make_optimizer_fn(),
                loss=keras.losses.SparseCategoricalCrossentropy(),
                # Weighted: the evaluation pipelines pad their last batch
                # with weight-0 examples.
                weighted_metrics=[
                    keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                    keras.metrics.SparseCategoricalCrossentropy(
                        name="cross_entropy"),
                ],
                run_eagerly=self.run_eagerly,
                jit_compile=self.jit_compile,
            )


class RoRHyperModel(VariantHyperModel):
    """RoR: Represent ratio x drop-layer rate on the CIFAR RoR-ResNets.

    Reference:
        - Shen & Gao, "Refine or Represent: Residual Networks with Explicit
          Channel-wise Configuration", IJCAI 2018.

    Architecture space (registry `ror_resnet_{depth}`):

    - `depth`: one of 56, 110, 164; default 56. Table 2 and Figs. 5-6.
    - `width`: one of 16, 32; default 32. Table 2 (16 = the slim nets).
    - `represent_ratio`: one of 0.0, 0.025, 0.05, 0.1, 0.2; default 0.05.
      §3 ("a ratio around 0.05 works well"), §4.3, Fig. 5: the error is
      U-shaped over the ratio with its minimum at 5%; 0 is the SDepth
      ResNet. Fig. 5's other tick values are not in the text, so 0.025,
      0.1 and 0.2 are our points either side of the optimum.
    - `drop_rate`: one of 0.0, 0.1, 0.2, 0.3, 0.4; default 0.2. §4.4,
      Fig. 6: 0 to 40%, lowest error at 20%.

    Fixable builder arguments: `seed` (defaults to the hypermodel's seed),
    `drop_mode`, `scale_at`. Training parameters and arguments: see
    `VariantHyperModel`.
    """

    family = "ror"


class RGSHyperModel(VariantHyperModel):
    """RGSNet: shortcut variant, depth, width and GroupNorm groups.

    Reference:
        - Zhang et al., "Revisiting Residual Networks with Nonlinear
          Shortcuts", BMVC 2019.

    Architecture space (registry `rgsnet`, CIFAR stem):

    - `depth`: one of 26, 32, 38, 44, 50, 62, 77, 101, 152; default 50.
      Tables 3, 8, 9 and Fig. 4 (44 layers = [3, 4, 4, 3], assumed); the
      default is Table 11's Res-RGSNet50 (0.25x).
    - `width`: one of 0.25, 0.5, 1.0, 2.0; default 0.25. Tables 3-4;
      Fig. 4 and Tables 9, 11 use 0.25x.
    - `variant`: one of 'b', 'd', 'res'; default 'res'. §3, Fig. 3;
      Res-RGSNet is the best in Tables 2-5.
    - `group_scale`: one of 0.25, 0.5, 1.0, 2.0; default 1.0. GroupNorm
      groups G = 32 * width * group_scale: §3 sets G = 32 at 1x and scales
      it with the width (8 at 0.25x), i.e. `group_scale=1`. The paper does
      not sweep G; 1/4 to 2 times its value is our range. Every value
      divides every RG-normalised width.

    Fixable builder arguments: `groups` (an absolute G; replaces
    `group_scale`) and `stem` (`'cifar'` or `'imagenet'`). Training
    parameters and arguments: see `VariantHyperModel`.
    """

    family = "rgs"


class RiRHyperModel(VariantHyperModel):
    """ResNet in ResNet: layout, Figure 2 mode, shortcut and stream split.

    Reference:
        - Targ, Almeida & Lyman, "Resnet in Resnet: Generalizing Residual
          Architectures", 2016.

    Architecture space (registry `rir_net`: the 32-layer net's widths
    16/32/64 shared by the two streams):

    - `blocks_per_stage`: one of 1, 2, 3, 5; default 5. Table 4 (3, 6, 9,
      15 blocks in all); Table 1's net has 5.
    - `layers_per_block`: one of 2, 3, 5, 10; default 2. Table 4.
    - `mode`: one of 'rir', 'resnet', 'resnet_init', 'cnn'; default 'rir'.
      Fig. 2 and Table 1.
    - `shortcut`: one of 'identity', 'projection'; default 'identity'; only
      with mode 'rir'. §3: the authors grid-searched the shortcut type.
    - `transient_ratio`: one of 0.25, 0.5, 0.75; default 0.5. The share of
      each stage's width in the transient stream: §3 leaves other stream
      sizes to future work and the models use equal streams (docs/design.md);
      0.25 and 0.75 are ours.

    Training parameters and arguments: see `VariantHyperModel`.
    """

    family = "rir"


class ResSEHyperModel(VariantHyperModel):
    """Res-SE-Net: depth and the bridge SE's reduction ratio.

    Reference:
        - Varshaneya et al., "Res-SE-Net: Boosting Performance of Resnets
          by Enhancing Bridge-connections", 2019.

    Architecture space (registry `res_se_net_{depth}`):

    - `depth`: one of 20, 32, 44, 56, 110; default 44. §5, Table 5; §6:
      Res-SE-Net-44 beats ResNet-110 and SE-ResNet-110.
    - `reduction`: one of 2, 4, 8, 16, 32; default 16. §3.2 uses Hu et
      al.'s SE reduction r; 16 reproduces the paper's parameter savings
      exactly (docs/design.md). The paper does not sweep r; 2 to 32 is
      SE-Net's own ablation range.

    Training parameters and arguments: see `VariantHyperModel`.
    """

    family = "res_se"


class SeqConvHyperModel(VariantHyperModel):
    """SeqResNet: block type, group width k, widening, depth, window and
    subgroups.

    Reference:
        - Huang et al., "Sequentially Aggregated Convolutional Networks",
          ICCV Workshops 2019.

    Architecture space (registry `seq_resnet` or `seq_resnet_b`, the CIFAR
    template of Table 1):

    - `block`: one of 'basic', 'bottleneck'; default 'basic'. Tables 1, 3.
    - `k`: one of 8, 16, 32; default 8. Tables 3, 5 (S1 vs S3: smaller k
      is better).
    - `r`: one of 2, 4, 6, 8, 10, 12; default 4. Tables 1, 3, 5 use r = 3,
      4, 7, 10, 12; the space keeps even values so that every k divides
      every stage width 16r/32r/48r.
    - `blocks_per_stage`: one of 1, 2, 3; default 1. Tables 3, 5.
    - `dense`: one of False, True; default False. The window: False is
      windowed aggregation over the input width, True dense aggregation
      (§3.2, Table 5 S1 vs S2: windowed is better).
    - `subgroups`: one of 1, 2, 4, 8; default 1; only with block
      'bottleneck'. §3.3, Table 2 (c = 8, 8, 4, 4 in SeqResNeXt-24).

    Fixable builder argument: `dropout`. Training parameters and
    arguments: see `VariantHyperModel`.
    """

    family = "seqconv"


HYPERMODELS = {
    cls.family: cls
    for cls in (RoRHyperModel, RGSHyperModel, RiRHyperModel,
                ResSEHyperModel, SeqConvHyperModel)
}


def make_hypermodel(family, **kwargs):
    """The family's `VariantHyperModel` subclass, instantiated with
    `kwargs` (see `VariantHyperModel`)."""
    v.check_choice("family", family, tuple(HYPERMODELS))
    return HYPERMODELS[family](**kwargs)


__all__ = [
    "HYPERMODELS",
    "RGSHyperModel",
    "ResSEHyperModel",
    "RiRHyperModel",
    "RoRHyperModel",
    "SeqConvHyperModel",
    "TuningData",
    "VariantHyperModel",
    "make_hypermodel",
]
