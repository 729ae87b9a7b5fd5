"""`search()`: a keras-tuner search over a family's space that fails loudly.

keras-tuner catches every exception raised in a trial
(`BaseTuner._try_run_and_update_trial`), marks the trial FAILED or INVALID
and carries on; `search()` then returns normally and
`get_best_hyperparameters()` can hand back a failed trial's values. Here
every trial's status is checked: by default the search stops at the first
trial that does not end COMPLETED, and `search()` raises
`TrialsFailedError` with the trial's error.
"""

import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import tempfile
import time
import warnings

import keras
import keras_tuner as kt

from keras_resvariants import _validation as v
from keras_resvariants.training.distribution import setup_distribution
from keras_resvariants.tuning.hypermodel import TuningData
from keras_resvariants.tuning.hypermodel import make_hypermodel

TUNERS = ("random", "bayesian", "hyperband", "grid")
OBJECTIVES = ("val_accuracy", "val_loss", "val_cross_entropy")
COMPLETED = kt.engine.trial.TrialStatus.COMPLETED
_TUNER_CLASSES = {
    "random": kt.RandomSearch,
    "bayesian": kt.BayesianOptimization,
    "hyperband": kt.Hyperband,
    "grid": kt.GridSearch,
}


@dataclasses.dataclass
class TrialRecord:
    """One trial of a search.

    Attributes:
        trial_id: keras-tuner's trial id (`"0"`, `"1"`, ... zero-padded).
        status: `"COMPLETED"`, `"FAILED"`, `"INVALID"`, ...
        score: the objective at the trial's best epoch, or `None`.
        best_step: that epoch (0-based), or `None`.
        hyperparameters: the trial's values (keras-tuner's `tuner/*`
            bookkeeping values removed).
        metrics: the last value of each logged metric.
        error: the last line of the trial's traceback, or `None`.
        traceback: the full traceback keras-tuner recorded, or `None`.
    """

    trial_id: str
    status: str
    score: float | None
    best_step: int | None
    hyperparameters: dict
    metrics: dict
    error: str | None = None
    traceback: str | None = None

    @classmethod
    def from_trial(cls, trial):
        message = trial.message or None
        error = None
        if message:
            lines = [line for line in message.strip().splitlines()
                     if line.strip()]
            error = lines[-1].strip() if lines else message.strip()
        metrics = {}
        for name in trial.metrics.metrics:
            value = trial.metrics.get_last_value(name)
            metrics[name] = _json_float(value)
        values = {k: val for k, val in trial.hyperparameters.values.items()
                  if not k.startswith("tuner/")}
        return cls(
            trial_id=trial.trial_id,
            status=trial.status,
            score=_json_float(trial.score),
            best_step=trial.best_step,
            hyperparameters=values,
            metrics=metrics,
            error=error,
            traceback=message,
        )

    def to_dict(self):
        return dataclasses.asdict(self)


class TrialsFailedError(RuntimeError):
    """Raised by `search()` when a trial did not end COMPLETED.

    Attributes:
        failed: the `TrialRecord`s of the trials that did not complete.
        trials: all `TrialRecord`s of the search.
        results_path: the results JSON (with full tracebacks), or `None`.
    """

    def __init__(self, failed, trials, results_path=None):
        self.failed = failed
        self.trials = trials
        self.results_path = results_path
        lines = [
            f"{len(failed)} of {len(trials)} trial(s) did not complete; "
            "keras-tuner caught the error(s), so no best hyperparameters "
            "are reported."
        ]
        for record in failed:
            lines.append(
                f"  trial {record.trial_id} ({record.status}, "
                f"{_format_values(record.hyperparameters)}): "
                f"{record.error or 'no error message recorded'}"
            )
        if results_path:
            lines.append(f"Full tracebacks: {results_path}")
        super().__init__("\n".join(lines))


@dataclasses.dataclass
class SearchResult:
    """What `search()` returns.

    Attributes:
        family: the family searched.
        trials: `TrialRecord`s in trial order.
        best: the best trial's `TrialRecord`.
        best_hyperparameters: dict of the best trial's values.
        model_name, model_kwargs: the registry model and builder arguments
            of the best trial.
        best_model: the best trial's model at its best epoch (compiled,
            weight decay attached).
        validation: the best model's metrics on the validation split,
            measured after the search.
        output_dir: where the files went, or `None`.
        paths: dict with `best_model`, `best_hyperparameters`, `results`.
        elapsed_s: wall time of the search.
    """

    family: str
    trials: list
    best: TrialRecord
    best_hyperparameters: dict
    model_name: str
    model_kwargs: dict
    best_model: object
    validation: dict
    output_dir: str | None
    paths: dict
    elapsed_s: float

    def table(self):
        """The results table as text."""
        return format_table(self.trials)


def _json_float(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _format_value(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _format_values(values):
    return ", ".join(f"{k}={_format_value(val)}" for k, val in values.items())


def format_table(trials):
    """A text table: trial id, status, score, then one column per
    hyperparameter that varies between trials (the constant ones are listed
    once below the table)."""
    if not trials:
        return "(no trials)"
    names = []
    for record in trials:
        for name in record.hyperparameters:
            if name not in names:
                names.append(name)
    varying = [
        n for n in names
        if len({repr(r.hyperparameters.get(n)) for r in trials}) > 1
    ]
    constant = [n for n in names if n not in varying]
    header = ["trial", "status", "score"] + varying
    rows = []
    for record in trials:
        score = "-" if record.score is None else f"{record.score:.4f}"
        rows.append([record.trial_id, record.status, score] + [
            "-" if n not in record.hyperparameters
            else _format_value(record.hyperparameters[n])
            for n in varying
        ])
    widths = [max(len(str(row[i])) for row in [header] + rows)
              for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths))
              for row in rows]
    if constant:
        first = trials[0].hyperparameters
        lines.append("same in every trial: " + _format_values(
            {n: first[n] for n in constant if n in first}))
    for record in trials:
        if record.error:
            lines.append(f"trial {record.trial_id} error: {record.error}")
    return "\n".join(lines)


class _StopSearch(Exception):
    """Ends `tuner.search` after a trial that did not complete."""


class _CheckedTuner:
    """Mixin: after each trial, stop the search if it did not complete."""

    fail_fast = True

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        ended = self.oracle.get_trial(trial.trial_id)
        if self.fail_fast and ended.status != COMPLETED:
            raise _StopSearch(ended.trial_id)


def _tuner_class(kind):
    base = _TUNER_CLASSES[kind]
    return type(f"Checked{base.__name__}", (_CheckedTuner, base), {})


def _objective(name):
    v.check_choice("objective", name, OBJECTIVES)
    return kt.Objective(name, direction="max" if "accuracy" in name
                        else "min")


def make_tuner(kind, hypermodel, *, objective="val_accuracy", max_trials=10,
               epochs=1, seed=0, directory, project_name="search",
               overwrite=True, executions_per_trial=1,
               distribution_strategy=None, fail_fast=True):
    """A keras-tuner tuner of `kind` that stops at the first trial that does
    not complete (with `fail_fast`).

    Args:
        kind: `"random"`, `"bayesian"`, `"hyperband"` or `"grid"`.
        hypermodel: a `VariantHyperModel`.
        objective: `"val_accuracy"` (maximised), `"val_loss"` or
            `"val_cross_entropy"` (minimised).
        max_trials: int. Trials to run at most (Hyperband: caps the
            brackets' trials; its epochs per trial follow `epochs`).
        epochs: int. Hyperband's `max_epochs`; unused by the others.
        seed: int. The oracle's seed (searches with the same seed sample
            the same trials).
        directory, project_name, overwrite, executions_per_trial,
            distribution_strategy: passed to the tuner.
        fail_fast: bool. Stop the search after a failed trial.
    """
    v.check_choice("tuner", kind, TUNERS)
    max_trials = v.check_positive_int("max_trials", max_trials)
    common = dict(
        # keras-tuner's oracles read a seed of 0 as "no seed" (`seed or
        # random.randint(...)`), so shift it to keep every seed
        # reproducible.
        objective=_objective(objective),
        seed=v.check_int("seed", seed) % (2**31 - 1) + 1,
        directory=directory,
        project_name=project_name, overwrite=overwrite,
        executions_per_trial=executions_per_trial,
        distribution_strategy=distribution_strategy,
    )
    if kind == "grid":
        ranges = [p.name for p in
                  hypermodel.params + hypermodel.training_params
                  if p.kind == "float"]
        if ranges:
            raise ValueError(
                "`tuner='grid'` needs a finite space: fix or narrow to a "
                f"list of values the float parameter(s) {ranges}. Received: "
                f"tuner='grid'"
            )
    if kind == "bayesian":
        missing = [m for m in ("scipy", "sklearn")
                   if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(
                "`tuner='bayesian'` needs scipy and scikit-learn (keras-"
                f"tuner's Gaussian process); missing: {missing}. Install "
                "them (`pip install scipy scikit-learn`) or use "
                "tuner='random' or 'hyperband'."
            )
    cls = _tuner_class(kind)
    if kind == "hyperband":
        tuner = cls(hypermodel, max_epochs=v.check_positive_int(
            "epochs", epochs), factor=3, **common)
        # Hyperband has no `max_trials`; the base oracle honours it.
        tuner.oracle.max_trials = max_trials
    else:
        tuner = cls(hypermodel, max_trials=max_trials, **common)
    tuner.fail_fast = fail_fast
    return tuner


def _check_tensorboard():
    # keras-tuner imports `tensorboard.plugins.hparams` in every trial on
    # the TensorFlow backend, and TF 2.21 no longer installs tensorboard;
    # without it every trial fails with an ImportError.
    if keras.backend.backend() == "tensorflow" and (
        importlib.util.find_spec("tensorboard") is None
    ):
        raise ImportError(
            "keras-tuner needs the `tensorboard` package on the TensorFlow "
            "backend (it imports tensorboard.plugins.hparams in every "
            "trial). Install it: `pip install 'tensorboard>=2.21,<3'`."
        )


def search(family, dataset="fashion_mnist", *, tuner="random", max_trials=10,
           epochs=1, train_subset=None, validation_split=0.1,
           objective="val_accuracy", fixed=None, space=None, recipe="auto",
           seed=0, output_dir=None, data_dir=None, download=False,
           pipeline="auto", distribution="auto", logical_cpus=None,
           executions_per_trial=1, run_eagerly=False, jit_compile="auto",
           overwrite=True, verbose=0, fail_fast=True):
    """Searches a family's hyperparameters with keras-tuner; raises if any
    trial fails.

    Builds the family's `VariantHyperModel` for the dataset's image shape
    and classes, runs the tuner on the training package's pipelines (a
    held-out validation split gives the objective), checks that every trial
    ended COMPLETED, reloads the best trial's model at its best epoch and,
    with `output_dir`, writes:

    * `best.keras`: that model;
    * `best_hyperparameters.json`: its hyperparameters, registry model and
      builder arguments, and its validation metrics;
    * `results.json`: the settings, the search space, every trial (status,
      score, hyperparameters, metrics, error and traceback) and the best
      trial; also written when trials fail;
    * `tuner/`: keras-tuner's own state and checkpoints.

    On TensorFlow with more than one device the tuner gets a
    `MirroredStrategy` (`distribution_strategy`); on JAX, `DataParallel`
    is set globally (`keras_resvariants.training.setup_distribution`).
    Multi-worker tuning is keras-tuner's chief/worker oracle
    (`KERASTUNER_*` environment variables), not a training strategy.

    Args:
        family: `"ror"`, `"rgs"`, `"rir"`, `"res_se"` or `"seqconv"`.
        dataset: `"fashion_mnist"`, `"cifar10"`, `"cifar100"` or
            `"imagenet2012"`. Defaults to `"fashion_mnist"`.
        tuner: `"random"`, `"bayesian"`, `"hyperband"` or `"grid"`.
        max_trials: int. Trials to run at most. Defaults to `10`.
        epochs: int. Epochs per trial (Hyperband: at most). Defaults to
            `1`.
        train_subset: int. Train on the first N training images.
        validation_split: fraction or count of training images held out
            for the objective. Defaults to `0.1`.
        objective: `"val_accuracy"` (default), `"val_loss"` or
            `"val_cross_entropy"`.
        fixed: dict name -> value fixing hyperparameters (see
            `VariantHyperModel`).
        space: dict name -> list of values or `(low, high)` narrowing the
            space.
        recipe: recipe name, `Recipe` or `"auto"` (the family's).
        seed: int. Seeds the oracle, the weights of every trial and the
            data.
        output_dir: str. Where to write the files; `None` writes nothing
            (the tuner's state goes to a temporary directory).
        data_dir, download, pipeline: see `keras_resvariants.data`.
        distribution: `"auto"`, `"none"`, `"mirrored"` or
            `"data_parallel"`.
        logical_cpus: int. Split the CPU into this many devices (testing).
        executions_per_trial: int. Trainings averaged per trial.
        run_eagerly, jit_compile: passed to `compile` (eager execution
            is faster for tiny smoke searches, where tracing dominates).
        overwrite: bool. Start over instead of resuming the tuner state in
            `output_dir`. Defaults to `True`.
        verbose: passed to keras-tuner and `fit`.
        fail_fast: bool. Stop at the first failed trial (the search raises
            either way). Defaults to `True`.

    Returns:
        A `SearchResult`.

    Raises:
        TrialsFailedError: a trial did not end COMPLETED (its error is in
            the message; `results.json` has the tracebacks).
        ValueError: invalid arguments.
        ImportError: `tensorboard` missing on the TensorFlow backend.

    Example:

    Two small trials (a real search: `max_trials=8, epochs=2,
    train_subset=4096, validation_split=1000`, about 15 minutes on 2 CPU
    cores for RoR-56 at width 16):

    >>> result = keras_resvariants.tuning.search(
    ...     "res_se", tuner="random", max_trials=2, epochs=1,
    ...     train_subset=128, validation_split=64, verbose=0,
    ...     fixed={"depth": 20}, output_dir="runs/tune_res_se")
    >>> len(result.trials)
    2
    """
    start = time.perf_counter()
    v.check_choice("tuner", tuner, TUNERS)
    max_trials = v.check_positive_int("max_trials", max_trials)
    epochs = v.check_positive_int("epochs", epochs)
    _objective(objective)
    seed = v.check_int("seed", seed)
    v.check_bool("overwrite", overwrite)
    v.check_bool("fail_fast", fail_fast)
    _check_tensorboard()

    plan = setup_distribution(distribution, logical_cpus=logical_cpus)
    if plan.process_count > 1:
        raise NotImplementedError(
            "Multi-process tuning is keras-tuner's chief/worker oracle "
            "(KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, "
            "KERASTUNER_ORACLE_PORT), not a multi-process training run."
        )
    data = TuningData(
        dataset=dataset, train_subset=train_subset,
        validation_split=validation_split, data_dir=data_dir,
        download=download, pipeline=pipeline, seed=seed,
    )
    hypermodel = make_hypermodel(
        family, input_shape=tuple(data.info.image_shape),
        classes=data.info.num_classes, fixed=fixed, space=space,
        recipe=recipe, seed=seed, run_eagerly=run_eagerly,
        jit_compile=jit_compile, distribution_strategy=plan.strategy,
        num_replicas=plan.num_replicas,
    )
    data = dataclasses.replace(
        data, augment=hypermodel.recipe.augmentation == "standard")

    temporary = None
    if output_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="resvariants_tune_")
        root = temporary.name
    else:
        root = os.path.abspath(output_dir)
        os.makedirs(root, exist_ok=True)
    paths = {
        "best_model": os.path.join(root, "best.keras"),
        "best_hyperparameters": os.path.join(root,
                                             "best_hyperparameters.json"),
        "results": os.path.join(root, "results.json"),
        "tuner": os.path.join(root, "tuner"),
    }
    settings = {
        "family": family,
        "dataset": dataset,
        "tuner": tuner,
        "objective": objective,
        "max_trials": max_trials,
        "epochs": epochs,
        "train_subset": train_subset,
        "validation_split": validation_split,
        "recipe": hypermodel.recipe.name,
        "seed": seed,
        "fixed": dict(fixed or {}),
        "space": {k: list(val) if isinstance(val, (list, tuple, set))
                  else val for k, val in (space or {}).items()},
        "backend": keras.backend.backend(),
        "distribution": plan.describe(),
        "run_eagerly": run_eagerly,
    }
    try:
        return _run(
            hypermodel=hypermodel, data=data, tuner_kind=tuner,
            objective=objective, max_trials=max_trials, epochs=epochs,
            seed=seed, paths=paths, overwrite=overwrite,
            executions_per_trial=executions_per_trial,
            strategy=plan.strategy, verbose=verbose, fail_fast=fail_fast,
            settings=settings, start=start,
            output_dir=None if temporary else root,
        )
    finally:
        if temporary is not None:
            temporary.cleanup()


def _write_json(path, payload):
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=False, default=str)


def _run(*, hypermodel, data, tuner_kind, objective, max_trials, epochs,
         seed, paths, overwrite, executions_per_trial, strategy, verbose,
         fail_fast, settings, start, output_dir):
    tuner = make_tuner(
        tuner_kind, hypermodel, objective=objective, max_trials=max_trials,
        epochs=epochs, seed=seed, directory=os.path.dirname(paths["tuner"]),
        project_name=os.path.basename(paths["tuner"]), overwrite=overwrite,
        executions_per_trial=executions_per_trial,
        distribution_strategy=strategy, fail_fast=fail_fast,
    )
    try:
        tuner.search(data=data, epochs=epochs, verbose=verbose)
    except _StopSearch:
        pass
    except RuntimeError as error:
        # keras-tuner's own "Number of consecutive failures exceeded the
        # limit" (fail_fast=False): report the trials below.
        if "consecutive failures" not in str(error):
            raise
    oracle = tuner.oracle
    trials = [TrialRecord.from_trial(oracle.trials[i])
              for i in sorted(oracle.trials)]
    results = {
        "status": "completed",
        "settings": settings,
        "search_space": hypermodel.search_space(),
        "trials": [t.to_dict() for t in trials],
        "elapsed_s": round(time.perf_counter() - start, 2),
    }
    failed = [t for t in trials if t.status != COMPLETED]
    if failed or not trials:
        results["status"] = "failed"
        if output_dir is not None:
            _write_json(paths["results"], results)
        raise TrialsFailedError(
            failed, trials, paths["results"] if output_dir else None)

    best_trial = oracle.get_best_trials(1)[0]
    best = next(t for t in trials if t.trial_id == best_trial.trial_id)
    with warnings.catch_warnings():
        # The checkpoint holds the trial's trained optimizer state; the
        # rebuilt model's fresh optimizer does not load it ("Skipping
        # variable loading for optimizer"), which is what we want.
        warnings.filterwarnings("ignore", message="Skipping variable "
                                "loading for optimizer")
        best_model = tuner.get_best_models(1)[0]
    model_name, model_kwargs = hypermodel.architecture(
        best_trial.hyperparameters.values)
    splits = data(best.hyperparameters["batch_size"])
    validation = best_model.evaluate(splits.validation, verbose=0,
                                     return_dict=True)
    validation = {k: _json_float(val) for k, val in validation.items()}
    best_info = {
        "trial_id": best.trial_id,
        "objective": objective,
        "score": best.score,
        "best_epoch": best.best_step,
        "hyperparameters": best.hyperparameters,
        "model": model_name,
        "model_kwargs": model_kwargs,
        "recipe": hypermodel.recipe.name,
        "validation": validation,
        "validation_examples": splits.validation_examples,
    }
    results["best"] = best_info
    results["elapsed_s"] = round(time.perf_counter() - start, 2)
    if output_dir is not None:
        # A built (fresh) optimizer, so that loading the file does not warn
        # about optimizer variables it cannot match.
        with (strategy.scope() if strategy is not None
              else contextlib.nullcontext()):
            best_model.optimizer.build(best_model.trainable_variables)
        best_model.save(paths["best_model"])
        _write_json(paths["best_hyperparameters"], best_info)
        _write_json(paths["results"], results)
    return SearchResult(
        family=hypermodel.family_space.family,
        trials=trials,
        best=best,
        best_hyperparameters=dict(best.hyperparameters),
        model_name=model_name,
        model_kwargs=model_kwargs,
        best_model=best_model,
        validation=validation,
        output_dir=output_dir,
        paths=paths if output_dir is not None else {},
        elapsed_s=results["elapsed_s"],
    )
