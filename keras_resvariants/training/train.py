"""`train()`: a paper's training run with `model.fit`, on one or many
devices, that survives being killed."""

import dataclasses
import importlib.util
import inspect
import json
import os
import shutil
import sys
import time

import keras
import numpy as np

from keras_resvariants import _validation as v
from keras_resvariants import data as data_lib
from keras_resvariants import recipes as recipes_lib
from keras_resvariants import runs
from keras_resvariants.macs import count_parameters
from keras_resvariants.runs import RunDir
from keras_resvariants.training import callbacks as cb
from keras_resvariants.training.compiling import compile_for_recipe
from keras_resvariants.training.compiling import loss_and_metrics
from keras_resvariants.training.distribution import setup_distribution
from keras_resvariants.training.schedules import make_schedule

# Fields that must not change between an interrupted run and its resumption
# (the backup would not fit the new model or data).
_RESUME_KEYS = ("model", "model_kwargs", "dataset", "recipe",
                "global_batch_size", "seed", "train_subset",
                "validation_split", "validation_seed", "validation_data")


@dataclasses.dataclass
class TrainResult:
    """What `train()` returns.

    Attributes:
        model: the trained `keras.Model` (last epoch's weights; the
            selected ones are in `best.keras`, see `metrics["selection"]`).
        history: the `keras.callbacks.History` of this invocation (epochs
            run now; a resumed run starts at the resumed epoch).
        metrics: the dict written to `metrics.json`.
        output_dir: the output directory, or `None`.
    """

    model: object
    history: object
    metrics: dict
    output_dir: str | None


def _versions():
    out = {"keras": keras.__version__}
    for name in ("tensorflow", "jax"):
        if name in sys.modules:
            out[name] = getattr(sys.modules[name], "__version__", "?")
    from keras_resvariants.version import __version__

    out["keras_resvariants"] = __version__
    return out


def _build_model(model, info, model_kwargs, recipe):
    shape = tuple(info.image_shape)
    if callable(model) and not isinstance(model, str):
        built = model(input_shape=shape, classes=info.num_classes,
                      **model_kwargs)
        return built, getattr(built, "name", "custom")
    from keras_resvariants.models import create_model
    from keras_resvariants.models import model_info

    kwargs = recipes_lib.model_arguments(
        recipe.model_kwargs, model_kwargs,
        accepted=model_info(model)["hyperparameters"])
    built = create_model(model, input_shape=shape, classes=info.num_classes,
                         **kwargs)
    return built, model


def _check_resume(path, config):
    if not os.path.exists(path):
        return
    with open(path) as f:
        previous = json.load(f)
    changed = [
        k for k in _RESUME_KEYS
        if json.dumps(previous.get(k), sort_keys=True)
        != json.dumps(config.get(k), sort_keys=True)
    ]
    if changed:
        details = ", ".join(
            f"{k}: {previous.get(k)!r} -> {config.get(k)!r}" for k in changed
        )
        raise ValueError(
            f"The output directory {os.path.dirname(path)!r} holds an "
            f"interrupted run with different settings ({details}). Use "
            "another output directory, or `restart=True` (CLI: "
            "`--restart`) to discard its backup."
        )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run is given, in one record.

    `train()` takes these fields as keyword arguments (or a `TrainConfig`),
    `resvariants train` builds one from its command line (each option's
    destination is a field name), and `run_config.json` records the ones
    that define the run. `replace(**changes)` returns a modified copy.

    Attributes:
        model: registry name (see `keras_resvariants.list_models()`) or a
            callable `(input_shape=..., classes=..., **model_kwargs)`
            returning an uncompiled `keras.Model`. Defaults to
            `"resnet_20"`.
        dataset: `"fashion_mnist"`, `"cifar10"`, `"cifar100"` or
            `"imagenet2012"`. Defaults to `"fashion_mnist"`.
        recipe: a recipe name (`keras_resvariants.recipes.list_recipes()`),
            a `Recipe`, or `"auto"`: the paper recipe of the model's
            family (`"quick"` for a callable). Defaults to `"auto"`.
        epochs: int. Overrides the recipe's length; the schedule is scaled
            to it (see `keras_resvariants.recipes`).
        batch_size: int. Global batch size. Defaults to the recipe's.
        per_replica_batch_size: int. Alternatively, the batch per replica;
            the global batch is this times the number of replicas.
        learning_rate: float. Overrides the recipe's initial rate.
        weight_decay: float. Overrides the recipe's λ.
        weight_decay_scope: `"all"` or `"kernels"`. Overrides the recipe's
            `weight_decay_scope` (see `apply_weight_decay`).
        train_subset: int. Train on the first N training examples (after
            the hold-out) only.
        test_subset: int. Evaluate on the first N test examples only.
        validation_split: training examples held out for validation and
            for choosing `best.keras`: `"auto"` (default; see
            `keras_resvariants.data.resolve_validation_split`), a fraction
            in (0, 1) of the training split or a count. `0`: no
            validation; `best.keras` is then the last epoch.
        validation_seed: int. Seed of the hold-out draw, independent of
            `seed`. Defaults to `keras_resvariants.data.VALIDATION_SEED`
            (0).
        validate_on_test: bool. Opt-in to the papers' test curves: train on
            the whole training split (`validation_split` must be `"auto"`
            or `0`), evaluate on the test split after every epoch, and let
            `best.keras` track test accuracy; `metrics.json` then says the
            selection was made on the test set. Defaults to `False`.
        steps_per_epoch: int. Overrides `train_examples // batch_size`.
        output_dir: str. Where outputs and the backup go; `None` writes
            nothing and cannot resume.
        data_dir: dataset directory (see `keras_resvariants.data`).
        download: bool. Let tfds download the data.
        seed: int. Seeds weights, data order and augmentation.
        distribution: `"auto"`, `"none"`, `"mirrored"` or
            `"data_parallel"` (see `setup_distribution`).
        logical_cpus: int. Split the CPU into this many devices (testing).
        coordinator_address, num_processes, process_id: JAX multi-process
            training (`keras.distribution.initialize`).
        model_kwargs: dict of builder hyperparameters.
        dtype_policy: e.g. `"mixed_float16"`; set for the run.
        jit_compile: passed to `compile`. Defaults to `"auto"`.
        pipeline: `"auto"`, `"tf.data"` or `"numpy"`.
        verbose: passed to `fit` (`"auto"` shows the progress bar).
        restart: bool. Discard an existing backup and log and start over.
        tensorboard: bool. Write TensorBoard logs.
        plot: bool. Write `curves.png`.
        callbacks: extra `keras.callbacks.Callback`s, run after ours.
        command: the command line to record in `metrics.json`.
    """

    model: object = "resnet_20"
    dataset: str = "fashion_mnist"
    recipe: object = "auto"
    epochs: int | None = None
    batch_size: int | None = None
    per_replica_batch_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    weight_decay_scope: str | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    validation_split: object = "auto"
    validation_seed: int = data_lib.VALIDATION_SEED
    validate_on_test: bool = False
    steps_per_epoch: int | None = None
    output_dir: str | None = None
    data_dir: str | None = None
    download: bool = False
    seed: int = 0
    distribution: str = "auto"
    logical_cpus: int | None = None
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    model_kwargs: dict | None = None
    dtype_policy: str | None = None
    jit_compile: object = "auto"
    pipeline: str = "auto"
    verbose: object = "auto"
    restart: bool = False
    tensorboard: bool = True
    plot: bool = True
    callbacks: tuple = ()
    command: str | None = None

    def replace(self, **changes):
        """A copy with `changes` applied (field names as keywords)."""
        return dataclasses.replace(self, **changes)


def train(model="resnet_20", dataset="fashion_mnist", recipe="auto",
          **options):
    """Trains a network on a dataset with a paper's recipe.

    Builds the network for the dataset's image shape and classes inside
    the distribution scope, adds the recipe's L2 weight decay
    (`apply_weight_decay`, on the variables of `recipe.weight_decay_scope`),
    compiles SGD with the recipe's schedule, and runs `model.fit` with
    Keras' progress bar.

    Model selection never looks at the test set: by default
    (`validation_split="auto"`) a seeded random draw of training images
    (5,000 for Fashion-MNIST and CIFAR, 10,000 for ImageNet; with
    `train_subset`, at most 10% of the subset, drawn from outside it) is
    held out, evaluated after every epoch, and `best.keras` keeps the
    epoch of the highest validation accuracy. The draw uses
    `validation_seed`, not `seed`, so runs with different seeds are
    selected on the same images. The test set is read once, after the
    last epoch, to evaluate the last and the selected model.

    With `output_dir` it writes:

    * `tensorboard/`: TensorBoard logs (needs TensorFlow installed);
    * `log.csv`: one row per epoch (loss, accuracy, cross-entropy, their
      validation counterparts on the held-out split, `lr`,
      `epoch_time_s`);
    * `best.keras` (the selected model: the best validation accuracy, or
      the last epoch without a validation split) and `last.keras`;
    * `metrics.json`: test accuracy and cross-entropy of the last epoch
      (`test_accuracy`, `test_loss`) and of the selected model
      (`test["best"]`), what was selected on which split (`selection`),
      parameter counts, epochs, wall time, devices, backend, recipe,
      command line;
    * `curves.png`: training curves (needs matplotlib);
    * `backup/` (`backup/worker{i}` per process in multi-process runs):
      the `keras.callbacks.BackupAndRestore` state. Calling `train` again
      with the same arguments continues from the last finished epoch.

    Reference:
        - The recipes of the five papers, see `keras_resvariants.recipes`.

    Args:
        model: registry name (see `keras_resvariants.list_models()`), a
            callable `(input_shape=..., classes=..., **model_kwargs)`
            returning an uncompiled `keras.Model`, or a whole
            `TrainConfig` (then `dataset` and `recipe` are ignored and
            `options` replace its fields). Defaults to `"resnet_20"`.
        dataset: `"fashion_mnist"`, `"cifar10"`, `"cifar100"` or
            `"imagenet2012"`. Defaults to `"fashion_mnist"`.
        recipe: a recipe name, a `Recipe` or `"auto"` (see
            `TrainConfig.recipe`). Defaults to `"auto"`.
        **options: any other `TrainConfig` field (`epochs`,
            `output_dir`, `seed`, ...; documented there). An unknown name
            is a `TypeError`, as for any keyword argument.

    Returns:
        A `TrainResult`.

    Raises:
        TypeError: an unknown option.
        ValueError: for invalid arguments or a resumed run whose settings
            differ.
        NotImplementedError: TensorFlow multi-worker training.
        FileNotFoundError: missing data (the message says how to get it).

    Example:

    >>> result = keras_resvariants.training.train(
    ...     "resnet_20", "fashion_mnist", "quick", epochs=1,
    ...     train_subset=256, test_subset=256, output_dir="runs/smoke",
    ...     verbose=0)
    >>> result.metrics["selection"]["split"]
    'validation (25 held-out training images, seed 0)'
    >>> 0.0 <= result.metrics["test_accuracy"] <= 1.0
    True
    """
    if isinstance(model, TrainConfig):
        config = model.replace(**options)
    else:
        config = TrainConfig(model=model, dataset=dataset, recipe=recipe,
                             **options)
    return _train(config)


# `help(train)` and IDEs show every option: the fields of `TrainConfig`.
train.__signature__ = inspect.Signature([
    inspect.Parameter(
        field.name,
        inspect.Parameter.POSITIONAL_OR_KEYWORD if index < 3
        else inspect.Parameter.KEYWORD_ONLY,
        default=field.default)
    for index, field in enumerate(dataclasses.fields(TrainConfig))])


def _train(config):
    """Checks and settles `config` (recipe, devices, batch), then runs."""
    start = time.perf_counter()
    c = config
    data_lib.get_dataset_info(c.dataset)
    v.check_int("seed", c.seed)
    v.check_int("validation_seed", c.validation_seed)
    v.check_bool("validate_on_test", c.validate_on_test)
    v.check_bool("restart", c.restart)
    if c.train_subset is not None:
        v.check_int("train_subset", c.train_subset, minimum=1)
    # Checked now (the count is resolved with the data), so that a typo
    # fails before any device is set up.
    data_lib.resolve_validation_split(c.dataset, c.validation_split,
                                      train_subset=c.train_subset)
    if c.validate_on_test and c.validation_split != "auto" and (
            data_lib.resolve_validation_split(c.dataset,
                                              c.validation_split)):
        raise ValueError(
            "`validation_split` must be 'auto' or 0 with "
            "`validate_on_test=True` (the test set then replaces the "
            "held-out split). Received: "
            f"validation_split={c.validation_split!r}"
        )
    recipe = c.recipe
    if isinstance(recipe, str) and recipe == "auto":
        recipe = (recipes_lib.recipe_for_model(c.model)
                  if isinstance(c.model, str) else "quick")
    recipe = recipes_lib.get_recipe(recipe)
    overrides = {name: getattr(c, name) for name in (
        "learning_rate", "weight_decay", "weight_decay_scope")
        if getattr(c, name) is not None}
    if overrides:
        recipe = recipe.with_overrides(**overrides)
    if c.batch_size is not None and c.per_replica_batch_size is not None:
        raise ValueError(
            "Pass `batch_size` (global) or `per_replica_batch_size`, not "
            f"both. Received: batch_size={c.batch_size!r}, "
            f"per_replica_batch_size={c.per_replica_batch_size!r}"
        )

    plan = setup_distribution(
        c.distribution, logical_cpus=c.logical_cpus,
        coordinator_address=c.coordinator_address,
        num_processes=c.num_processes, process_id=c.process_id,
    )
    if c.per_replica_batch_size is not None:
        global_batch = data_lib.global_batch_size(c.per_replica_batch_size,
                                                  plan.num_replicas)
    else:
        global_batch = v.check_positive_int(
            "batch_size", c.batch_size or recipe.batch_size
        )
    if global_batch % plan.num_replicas:
        raise ValueError(
            f"`batch_size` must be divisible by the {plan.num_replicas} "
            f"replicas. Received: batch_size={global_batch}"
        )

    settled = c.replace(recipe=recipe,
                        model_kwargs=dict(c.model_kwargs or {}))
    previous_policy = keras.config.dtype_policy()
    if c.dtype_policy is not None:
        keras.config.set_dtype_policy(c.dtype_policy)
    try:
        return _run(settled, start=start, global_batch=global_batch,
                    plan=plan)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _run(config, *, start, global_batch, plan):
    """The body of `train` once `config` (recipe resolved, model_kwargs a
    dict) and the devices are settled."""
    epochs, output_dir = config.epochs, config.output_dir
    recipe = config.recipe
    keras.utils.set_random_seed(config.seed)

    chief = plan.is_chief
    paths = {}
    initial_epoch = 0
    if output_dir is not None:
        output_dir = os.path.abspath(output_dir)
        run = RunDir(output_dir)
        backup = run.backup
        if plan.process_count > 1:
            backup = os.path.join(backup, f"worker{plan.process_index}")
        # Every process saves checkpoints (saving is collective on JAX
        # multi-process runs) and keeps a CSV log, so all make the same
        # best-checkpoint decisions; the chief's go to `output_dir`, the
        # others' into their own backup directory.
        own = run if chief else RunDir(backup)
        paths = {
            "backup": backup,
            "csv": own.log,
            "best": own.best,
            "last": own.last,
            "metrics": run.metrics,
            "png": run.curves,
            "tensorboard": run.tensorboard,
            "config": run.config,
        }
        os.makedirs(own.path, exist_ok=True)
        if config.restart:
            shutil.rmtree(backup, ignore_errors=True)
            os.makedirs(own.path, exist_ok=True)
            keys = ("csv", "best", "last") + (
                ("config", "metrics") if chief else ())
            for key in keys:
                if os.path.exists(paths[key]):
                    os.remove(paths[key])
        initial_epoch = cb.read_backup_epoch(backup)

    splits = data_lib.make_datasets(
        config.dataset, batch_size=global_batch, data_dir=config.data_dir,
        download=config.download,
        validation_split=(0 if config.validate_on_test
                          else config.validation_split),
        validation_seed=config.validation_seed,
        train_subset=config.train_subset, test_subset=config.test_subset,
        steps_per_epoch=config.steps_per_epoch,
        augment=recipe.augmentation == "standard", seed=config.seed,
        pipeline=config.pipeline, shard_index=plan.process_index,
        num_shards=plan.process_count, initial_epoch=initial_epoch,
    )
    if epochs is None:
        epochs = recipe.default_epochs(splits.steps_per_epoch)
    epochs = v.check_positive_int("epochs", epochs)
    total_steps = epochs * splits.steps_per_epoch

    with plan.scope():
        net, model_name = _build_model(config.model, splits.info,
                                       config.model_kwargs,
                                       recipe)
        decayed = compile_for_recipe(net, recipe, total_steps,
                                     jit_compile=config.jit_compile)

    if splits.validation is not None:
        validation_data, validation_name = splits.validation, "held_out"
    elif config.validate_on_test:
        validation_data, validation_name = splits.test, "test"
    else:
        validation_data, validation_name = None, "none"
    monitor = "val_accuracy" if validation_data is not None else None

    run_config = {
        "model": model_name,
        "model_kwargs": config.model_kwargs,
        "dataset": config.dataset,
        "recipe": recipe.to_dict(),
        "epochs": epochs,
        "global_batch_size": global_batch,
        "seed": config.seed,
        "train_subset": config.train_subset,
        "validation_split": config.validation_split,
        "validation_seed": config.validation_seed,
        "validation_examples": splits.validation_examples,
        "validation_data": validation_name,
    }
    if output_dir is not None and initial_epoch > 0:
        _check_resume(paths["config"], run_config)
    if output_dir is not None:
        if chief:
            with open(paths["config"], "w") as f:
                json.dump(run_config, f, indent=2, sort_keys=True)
        cb.truncate_csv_log(paths["csv"], initial_epoch)

    callback_list = [cb.EpochLogs(make_schedule(recipe, total_steps))]
    if output_dir is not None:
        callback_list.append(keras.callbacks.CSVLogger(paths["csv"],
                                                       append=True))
        if monitor is not None:
            previous = [r[monitor] for r in runs.read_csv_log(paths["csv"])
                        if isinstance(r.get(monitor), float)]
            callback_list.append(keras.callbacks.ModelCheckpoint(
                paths["best"], monitor=monitor, mode="max",
                save_best_only=True,
                initial_value_threshold=max(previous) if previous else None,
            ))
        callback_list.append(keras.callbacks.ModelCheckpoint(paths["last"]))
        if (chief and config.tensorboard
                and importlib.util.find_spec("tensorflow")):
            callback_list.append(keras.callbacks.TensorBoard(
                paths["tensorboard"], write_graph=False, profile_batch=0,
            ))
        callback_list.append(keras.callbacks.BackupAndRestore(
            paths["backup"], delete_checkpoint=False))
    callback_list.extend(config.callbacks)

    fit_start = time.perf_counter()
    history = net.fit(
        splits.train,
        epochs=epochs,
        steps_per_epoch=splits.steps_per_epoch,
        validation_data=validation_data,
        callbacks=callback_list,
        verbose=config.verbose,
        shuffle=False,  # the pipelines shuffle, with their seed
    )
    fit_time = time.perf_counter() - fit_start
    ran = list(history.epoch)

    rows = runs.read_csv_log(paths["csv"]) if output_dir else []
    if not rows:  # no log: this invocation's history
        rows = [
            {"epoch": float(e),
             **{k: float(vals[i]) for k, vals in history.history.items()}}
            for i, e in enumerate(ran)
        ]
    epochs_completed = (int(rows[-1]["epoch"]) + 1 if rows
                        else initial_epoch)
    if output_dir is not None:
        # Saved on every process (collective on JAX); without a validation
        # split the selected model is the last one, and `best.keras` too.
        net.save(paths["last"])
        if monitor is None:
            shutil.copyfile(paths["last"], paths["best"])

    # The selection, from the log: `ModelCheckpoint` saved the first epoch
    # reaching the maximum (it needs a strict improvement), as `max` picks.
    scored = [r for r in rows if monitor is not None
              and isinstance(r.get(monitor), float)
              and not np.isnan(r[monitor])]
    top = max(scored, key=lambda r: r[monitor]) if scored else None
    best_epoch = int(top["epoch"]) + 1 if top else epochs_completed

    # The test set, read now for the first time (except with
    # `validate_on_test`, whose per-epoch values come from the log).
    if validation_name == "test" and rows and epochs_completed == epochs:
        last_test = _logged_test(rows[-1])
        best_test = _logged_test(top)
    else:
        last_test = _evaluate(net, splits.test)
        best_test = None
        if validation_name == "test":
            best_test = _logged_test(top)
        elif top is None or best_epoch == epochs_completed:
            best_test = last_test  # the selected model is the last one
        elif output_dir is not None and os.path.exists(paths["best"]):
            with plan.scope():
                selected, _ = _build_model(config.model, splits.info,
                                           config.model_kwargs,
                                           recipe)
                selected.load_weights(paths["best"])
                selected.compile(jit_compile=config.jit_compile,
                                 **loss_and_metrics())
            best_test = _evaluate(selected, splits.test)
            del selected
    selection = _selection(
        validation_name, monitor, top, best_epoch, epochs_completed,
        splits, saved=output_dir is not None,
    )
    best = {
        "monitor": monitor,
        "value": top[monitor] if top else None,
        "epoch": best_epoch,
        "test_accuracy": best_test["accuracy"] if best_test else None,
        "test_loss": best_test["loss"] if best_test else None,
    }
    metrics = {
        "test_accuracy": last_test["accuracy"],
        "test_loss": last_test["loss"],
        "test_loss_kind": "cross-entropy (no weight-decay term)",
        "test": {
            "last": {"epoch": epochs_completed, **last_test},
            "best": {"epoch": best_epoch,
                     "accuracy": best["test_accuracy"],
                     "loss": best["test_loss"]},
        },
        "selection": selection,
        "model": model_name,
        "dataset": config.dataset,
        "recipe": recipe.to_dict(),
        "epochs": epochs,
        "epochs_completed": epochs_completed,
        "resumed_from_epoch": initial_epoch,
        "epochs_run_now": len(ran),
        "steps_per_epoch": splits.steps_per_epoch,
        "total_steps": total_steps,
        "lr_boundaries": list(recipe.boundaries(total_steps))
        if recipe.schedule == "step" else [],
        "global_batch_size": global_batch,
        "per_replica_batch_size": global_batch // plan.num_replicas,
        "train_examples": splits.train_examples,
        "validation_examples": splits.validation_examples,
        "test_examples": splits.test_examples,
        "validation_data": validation_name,
        "validation_split": config.validation_split,
        "validation_seed": config.validation_seed,
        "best": best,
        "params": count_parameters(net),
        "weight_decay": {
            "lambda": recipe.weight_decay,
            "l2_coefficient": recipe.weight_decay / 2.0,
            "scope": recipe.weight_decay_scope,
            "decayed_variables": len(decayed),
            "decayed_kernels": sum(1 for w in decayed if len(w.shape) >= 2),
        },
        "wall_time_s": None,
        "fit_time_s": fit_time,
        "train_time_s_all_runs": float(sum(
            r["epoch_time_s"] for r in rows
            if isinstance(r.get("epoch_time_s"), float)
        )) if output_dir else fit_time,
        "distribution": plan.describe(),
        "devices": list(plan.devices),
        "machine": runs.machine(),
        "backend": keras.backend.backend(),
        "dtype_policy": keras.config.dtype_policy().name,
        "pipeline": splits.pipeline,
        "seed": config.seed,
        "versions": _versions(),
        "command": (config.command if config.command is not None
                    else " ".join(sys.argv)),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if output_dir is not None and chief:
        if config.plot:
            cb.plot_curves(paths["csv"], paths["png"],
                           f"{model_name} on {config.dataset} "
                           f"({recipe.name})")
        metrics["outputs"] = {
            k: os.path.relpath(p, output_dir) for k, p in paths.items()
            if os.path.exists(p)
        }
        metrics["wall_time_s"] = time.perf_counter() - start
        with open(paths["metrics"], "w") as f:
            json.dump(metrics, f, indent=2, sort_keys=True)
    else:
        metrics["wall_time_s"] = time.perf_counter() - start
    return TrainResult(model=net, history=history, metrics=metrics,
                       output_dir=output_dir)


def _evaluate(net, dataset):
    result = net.evaluate(dataset, verbose=0, return_dict=True)
    return {"accuracy": float(result["accuracy"]),
            "loss": float(result["cross_entropy"])}


def _logged_test(row):
    """Test metrics logged as `val_*` by a `validate_on_test` run."""
    if row is None:
        return None
    return {"accuracy": float(row["val_accuracy"]),
            "loss": float(row["val_cross_entropy"])}


def _selection(validation_name, monitor, top, best_epoch, epochs_completed,
               splits, saved):
    """The `metrics.json` entry saying what was selected on which split."""
    if validation_name == "held_out":
        split = (f"validation ({splits.validation_examples} held-out "
                 f"training images, seed {splits.validation_seed})")
    elif validation_name == "test":
        split = ("test set (validate_on_test=True: the test split was "
                 "evaluated after every epoch, as in the papers' curves)")
    else:
        split = ("none (validation_split=0: no per-epoch validation; the "
                 "selected model is the last epoch)")
    out = {
        "checkpoint": "best" if top is not None else "last",
        "file": runs.BEST if saved else None,
        "monitor": monitor,
        "mode": "max" if monitor else None,
        "value": top[monitor] if top is not None else None,
        "split": split,
        "data": validation_name,
        "epoch": best_epoch,
        "last_epoch": epochs_completed,
    }
    if not saved:
        out["note"] = "no output_dir: no checkpoint was written"
    return out
