"""`resvariants study`: the paired accuracy study on Fashion-MNIST.

Each family of `keras_resvariants.bench.accuracy.PAIRS` pairs the paper's
variant with the paper's baseline. Both networks are trained with the same
recipe, epochs, batch and seeds by `resvariants train` (one process per
run, several at a time with `--parallel N`), which holds out 5,000
training images (`validation_seed` 0, the same images for every run),
keeps the epoch of the best validation accuracy in `best.keras` and reads
the test set once, at the end (docs/design.md, "Model selection and the
test set"). The study reports the test accuracy of that selected model.

Every finished run leaves one JSON file,
`RESULTS/<family>/<run name>.json` (schema: `SCHEMA`, `results/schema.json`
and `results/README.md`), committed with the code, so that later work adds
seeds and pairs instead of redoing them: a run whose file exists is
skipped; an interrupted run resumes from its run directory under the
scratch folder (`SCRATCH/<run name>/`, not committed), where the study
also copies the selected weights (`SCRATCH/best/<run name>.keras`). A run
shared by two families (ResNet-20 is the baseline of Res-SE and SeqConv)
is trained once and recorded in both.

The report, regenerated from the files alone:

    python -m keras_resvariants.bench.study report results/fashion_mnist \\
        > docs/accuracy_fashion_mnist.md

gives per network n, mean ± std of the test accuracy, and per variant the
paired (same seed) difference Δ to the baseline with its 95% t-interval
(`accuracy.paired_interval`) and the verdict of the rule fixed before any
run (`accuracy.verdict`): "better" only when the interval lies above 0,
"worse" only when it lies below 0, else "no detectable difference"; one
seed gives no interval ("insufficient seeds"). Cost is reported beside
accuracy as training images per second (images trained on over `fit`'s
wall time, per-epoch validation and compilation included).

On a CPU (2 cores: about 2.5 min per ResNet-20 epoch), two seeds of one
pair at 15 epochs:

    resvariants study --families res_se --seeds 0 1 --epochs 15

The whole study on one NVIDIA H200 with the JAX backend (five pairs x 3
seeds x 30 epochs, 27 distinct runs; the machine needs JAX, Keras and this
package, no TensorFlow, no network; the Fashion-MNIST IDX files go in
`--data-dir` or `$KERAS_RESVARIANTS_FASHION_MNIST_DIR`):

    KERAS_BACKEND=jax resvariants study --backend jax --seeds 0 1 2 \\
        --epochs 30 --parallel 9 --results results/fashion_mnist \\
        --scratch runs/study --report docs/accuracy_fashion_mnist.md

(`tools/gpu_session.sh` runs it, with `--stop-after`, in one call of a lent
machine; see results/README.md.) Each training process gets
`XLA_PYTHON_CLIENT_PREALLOCATE=false` and
`XLA_PYTHON_CLIENT_MEM_FRACTION=0.9/N` (unless already set), so that N
processes share the GPU. The 12-minute target for that command is a
design goal, not yet measured; `--batch-size` and `--parallel` are the
knobs, and concurrent runs share the machine, so compare their images per
second only with runs made the same way (the report lists how many ran at
once).
"""

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np

from keras_resvariants import _validation as v
from keras_resvariants import recipes as recipes_lib
from keras_resvariants.bench import accuracy
from keras_resvariants.runs import RunDir
from keras_resvariants.runs import cpu_model
from keras_resvariants.runs import read_csv_log
from keras_resvariants.weights.loading import sha256_file

SCHEMA_VERSION = 1
DATASET = "fashion_mnist"
DEFAULT_RESULTS = os.path.join("results", "fashion_mnist")
DEFAULT_SCRATCH = os.path.join("runs", "study")
DEFAULT_EPOCHS = 30
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_RECIPE = "quick"
BACKENDS = ("tensorflow", "jax", "torch")
# The protocol of every run: the default held-out split of `train()`.
VALIDATION_SPLIT = "auto"
VALIDATION_SEED = 0

PAIRS_ORDER = tuple(accuracy.PAIRS)

HELP = ("Run the paired Fashion-MNIST accuracy study (each paper's variant "
        "against its baseline) and report it.")

# ---------------------------------------------------------------------------
# The result file: a JSON-Schema subset (type, enum, minimum, maximum,
# properties, required, items, additionalProperties), checked by
# `validate_result` and written out by `json_schema()`.

# The columns of a run's `log.csv` a record keeps as its `curve`.
CURVE_COLUMNS = {
    "accuracy": "training accuracy over the epoch (augmented images, "
                "weights changing)",
    "cross_entropy": "training cross-entropy over the epoch",
    "val_accuracy": "validation accuracy after the epoch",
    "val_cross_entropy": "validation cross-entropy after the epoch",
    "lr": "learning rate of the epoch's last step",
}

_INT = {"type": "integer"}
_COUNT = {"type": "integer", "minimum": 0}
_POSITIVE = {"type": "integer", "minimum": 1}
_STR = {"type": "string"}
_ACC = {"type": "number", "minimum": 0, "maximum": 1}
_OPT_POSITIVE = {"type": ["integer", "null"], "minimum": 1}


def _obj(properties, description=None, closed=True, optional=()):
    out = {"type": "object", "properties": properties,
           "required": sorted(set(properties) - set(optional))}
    if closed:
        out["additionalProperties"] = False
    if description:
        out["description"] = description
    return out


def _d(schema, description):
    return dict(schema, description=description)


_TEST = _obj({
    "epoch": _d(_POSITIVE, "epoch of the evaluated weights (1-based)"),
    "accuracy": _ACC,
    "loss": _d({"type": "number"}, "cross-entropy, no weight decay term"),
})

SCHEMA = _obj({
    "schema_version": _d({"type": "integer", "enum": [SCHEMA_VERSION]},
                         "version of this schema"),
    "dataset": {"type": "string", "enum": [DATASET]},
    "family": _d(_STR, "a `PAIRS` key, also the folder name"),
    "role": {"type": "string", "enum": ["baseline", "variant"]},
    "run_name": _d(_STR, "`Entry.run_name`, also the file name"),
    "network": _obj({
        "key": _d(_STR, "registry name"),
        "label": _STR,
        "hparams": _d({"type": "object"}, "builder hyperparameters"),
    }),
    "seed": _d(_COUNT, "training seed (weights, data order, "
                       "augmentation)"),
    "epochs": _POSITIVE,
    "epochs_completed": _POSITIVE,
    "recipe": _obj({
        "name": _STR,
        "config": _d({"type": "object"}, "`Recipe.to_dict()`"),
    }),
    "batch_size": _d(_POSITIVE, "global batch size used"),
    "steps_per_epoch": _d(_POSITIVE, "training steps per epoch used"),
    "request": _obj({
        "batch_size": _OPT_POSITIVE,
        "train_subset": _OPT_POSITIVE,
        "test_subset": _OPT_POSITIVE,
        "steps_per_epoch": _OPT_POSITIVE,
    }, "the overrides the study asked for (null: the default); with "
       "network, recipe name, epochs and seed, the run's identity"),
    "data": _obj({
        "train_examples": _POSITIVE,
        "validation_examples": _COUNT,
        "test_examples": _POSITIVE,
        "validation_split": {"type": ["string", "number"]},
        "validation_seed": _INT,
        "pipeline": _STR,
    }),
    "selection": _obj({
        "split": _d(_STR, "what the selection was made on"),
        "monitor": {"type": ["string", "null"]},
        "epoch": _d(_POSITIVE, "the selected (best) epoch"),
        "validation_accuracy": {"type": ["number", "null"],
                                "minimum": 0, "maximum": 1},
    }),
    "test": _obj({"best": _TEST, "last": _TEST},
                 "test set, read once after training: the selected "
                 "(best) and the last epoch's weights"),
    "reported": _d({"type": "string", "enum": ["best"]},
                   "which of `test` the study reports"),
    "test_accuracy": _d(_ACC, "the reported one: test.best.accuracy"),
    "params": _obj({"trainable": _COUNT, "non_trainable": _COUNT,
                    "total": _COUNT}),
    "cost": _obj({
        "fit_time_s": _d({"type": "number", "minimum": 0},
                         "wall time of `fit` in the process that ran "
                         "the last epochs (validation, checkpoints and "
                         "compilation included)"),
        "epoch_time_s": _d({"type": "number", "minimum": 0},
                           "sum of the logged epoch times, every process "
                           "of the run (validation and compilation "
                           "included, checkpoints not)"),
        "timed_from": _d({"type": "string", "enum": ["fit", "epoch log"]},
                         "`fit`: the run was one process, timed by "
                         "fit_time_s; `epoch log`: it was resumed, timed "
                         "by epoch_time_s"),
        "epochs_timed": _d(_POSITIVE, "epochs the timing covers"),
        "train_images": _d(_POSITIVE, "steps_per_epoch x batch_size x "
                                      "epochs_timed"),
        "train_images_per_s": _d({"type": "number", "minimum": 0},
                                 "train_images over the timed seconds"),
        "wall_time_s": _d({"type": "number", "minimum": 0},
                          "wall time of `train()` in that process"),
        "process_wall_s": _d({"type": ["number", "null"], "minimum": 0},
                             "wall time of the training process as the "
                             "study saw it (null: not measured)"),
        "resumed_from_epoch": _COUNT,
        "parallel": _d(_POSITIVE, "training processes the study ran at "
                                  "once"),
        "epoch_times_s": _d({"type": ["array", "null"],
                             "items": {"type": "number", "minimum": 0}},
                            "each logged epoch's time, first epoch first "
                            "(validation and compilation included); null "
                            "when the log was not found. Missing in "
                            "records written before it existed"),
    }, optional=("epoch_times_s",)),
    "backend": {"type": "string", "enum": list(BACKENDS)},
    "devices": {"type": "array", "items": _STR},
    "machine": _obj({
        "cpu": _d(_STR, "model name from /proc/cpuinfo"),
        "cores": _POSITIVE,
        "accelerators": _d({"type": "array", "items": _STR},
                           "GPU names (jax.devices() with JAX)"),
        "platform": _STR,
    }),
    "versions": _d({"type": "object", "required": ["keras"]},
                   "package versions in the training process"),
    "code": _obj({"git_commit": {"type": ["string", "null"]}}),
    "date": _d(_STR, "when the run finished (ISO 8601)"),
    "command": _d(_STR, "the `resvariants train` command"),
    "study_command": {"type": ["string", "null"]},
    "curve": _d(
        {"type": ["object", "null"],
         "properties": {key: _d({"type": ["array", "null"],
                                 "items": {"type": "number"}}, text)
                        for key, text in CURVE_COLUMNS.items()},
         "required": sorted(CURVE_COLUMNS),
         "additionalProperties": False},
        "the run's per-epoch log (`log.csv`), first epoch first; a column "
        "the log lacks (no validation split) is null, and so is the whole "
        "curve when there is no log. Missing in records written before "
        "it existed"),
    "weights": _obj({
        "file": _d({"type": ["string", "null"]},
                   "the selected weights, relative to the scratch "
                   "folder (not committed)"),
        "sha256": {"type": ["string", "null"]},
        "bytes": {"type": ["integer", "null"], "minimum": 0},
    }),
}, "One finished training run of the Fashion-MNIST paired study.",
    optional=("curve",))

_TYPES = {
    "object": dict, "array": list, "string": str, "null": type(None),
    "boolean": bool, "integer": int, "number": (int, float),
}


def json_schema():
    """`SCHEMA` as a JSON Schema document (`results/schema.json`)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "keras_resvariants study result", **SCHEMA}


def validate_result(record, schema=None, where="record"):
    """The ways `record` breaks `schema` (default `SCHEMA`).

    Returns:
        list of str, empty when the record conforms.
    """
    schema = SCHEMA if schema is None else schema
    errors = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        ok = any(isinstance(record, _TYPES[t])
                 and not (t in ("integer", "number")
                          and isinstance(record, bool))
                 for t in names)
        if not ok:
            return [f"{where}: expected {' or '.join(names)}, got "
                    f"{record!r}"]
    if "enum" in schema and record not in schema["enum"]:
        errors.append(f"{where}: {record!r} is not one of {schema['enum']}")
    if isinstance(record, (int, float)) and not isinstance(record, bool):
        if "minimum" in schema and not record >= schema["minimum"]:
            errors.append(f"{where}: {record!r} < {schema['minimum']}")
        if "maximum" in schema and not record <= schema["maximum"]:
            errors.append(f"{where}: {record!r} > {schema['maximum']}")
    if isinstance(record, dict):
        for key in schema.get("required", ()):
            if key not in record:
                errors.append(f"{where}: missing {key!r}")
        properties = schema.get("properties", {})
        for key, value in record.items():
            if key in properties:
                errors += validate_result(value, properties[key],
                                          f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected {key!r}")
    if isinstance(record, list) and "items" in schema:
        for i, item in enumerate(record):
            errors += validate_result(item, schema["items"],
                                      f"{where}[{i}]")
    return errors


def check_result(record, path=None):
    """Raises `ValueError` when `record` breaks the schema or, with
    `path`, is not stored at `<family>/<run_name>.json`."""
    where = path or "record"
    errors = validate_result(record, where=os.path.basename(where))
    if not errors and path is not None:
        family = os.path.basename(os.path.dirname(os.path.abspath(path)))
        expected = os.path.join(record["family"], record["run_name"] +
                                ".json")
        if os.path.join(family, os.path.basename(path)) != expected:
            errors.append(f"stored as {path!r}, expected .../{expected}")
    if not errors and record["test_accuracy"] != record["test"]["best"][
            "accuracy"]:
        errors.append("test_accuracy differs from test.best.accuracy")
    if errors:
        raise ValueError(
            f"Result file {where} does not follow the study schema "
            f"(version {SCHEMA_VERSION}): " + "; ".join(errors[:5])
        )
    return record


# ---------------------------------------------------------------------------
# The plan: one `Run` per distinct training run.


@dataclasses.dataclass
class Run:
    """One training run of the study and the result files it fills.

    Attributes:
        entry: the `accuracy.Entry` trained.
        seed: int.
        name: `Entry.run_name` of the run.
        places: `[(family, role), ...]`: a result file each.
    """

    entry: accuracy.Entry
    seed: int
    name: str
    places: list


def _identity(record):
    """What makes two result files the same run."""
    return {
        "dataset": record["dataset"],
        "key": record["network"]["key"],
        "hparams": record["network"]["hparams"],
        "recipe": record["recipe"]["name"],
        "epochs": record["epochs"],
        "seed": record["seed"],
        "request": record["request"],
        "validation_split": record["data"]["validation_split"],
        "validation_seed": record["data"]["validation_seed"],
    }


def _check_list(name, values, accepted=None, integer=False):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"`{name}` must be a list. Received: "
                         f"{name}={values!r}")
    values = list(values)
    bad = [x for x in values
           if (accepted is not None and x not in accepted)
           or (integer and (isinstance(x, bool) or not isinstance(x, int)
                            or x < 0))]
    if not values or bad or len(set(values)) != len(values):
        what = (f"a non-empty list of distinct names among "
                f"{', '.join(accepted)}" if accepted is not None
                else "a non-empty list of distinct integers >= 0")
        raise ValueError(f"`{name}` must be {what}. Received: "
                         f"{name}={values!r}")
    return values


def plan_runs(families=None, *, seeds=DEFAULT_SEEDS, epochs=DEFAULT_EPOCHS,
              recipe=DEFAULT_RECIPE, batch_size=None, train_subset=None,
              test_subset=None, steps_per_epoch=None):
    """The distinct runs of the study: seed by seed, in the order of
    `seeds`, the costliest network first within each seed.

    Seed-major, so that a study cut short (`run_study(stop_after=...)`)
    has finished whole pairs rather than every seed of a few networks;
    costliest first within a seed, so that the short runs fill the
    workers at the end of each seed.

    Args:
        families: `PAIRS` keys (default: all).
        seeds, epochs, recipe, batch_size, train_subset, test_subset,
            steps_per_epoch: as `run_study`.

    Returns:
        list of `Run`.
    """
    families = _check_list("families", PAIRS_ORDER if families is None
                           else families, accepted=PAIRS_ORDER)
    seeds = _check_list("seeds", seeds, integer=True)
    v.check_positive_int("epochs", epochs)
    v.check_choice("recipe", recipe, tuple(recipes_lib.list_recipes()))
    for name, value in (("batch_size", batch_size),
                        ("train_subset", train_subset),
                        ("test_subset", test_subset),
                        ("steps_per_epoch", steps_per_epoch)):
        if value is not None:
            v.check_positive_int(name, value)
    runs = {}
    for seed in seeds:
        for family in families:
            _, baseline, *variants = accuracy.PAIRS[family]
            for role, entry in (("baseline", baseline),
                                *(("variant", e) for e in variants)):
                name = entry.run_name(
                    recipe, epochs, seed, batch_size=batch_size,
                    train_subset=train_subset, test_subset=test_subset,
                    steps_per_epoch=steps_per_epoch)
                run = runs.setdefault(name, Run(entry, seed, name, []))
                run.places.append((family, role))
    return sorted(runs.values(),
                  key=lambda r: (seeds.index(r.seed), -r.entry.macs))


def _result_path(results_dir, family, name):
    return os.path.join(results_dir, family, name + ".json")


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def _write_json(path, record):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# The record of one finished run.


def machine_info(backend):
    """CPU model and cores, accelerator names and OS of this machine.

    The accelerators come from `jax.devices()` in a short subprocess
    (which releases the GPU at once) with JAX, else from `nvidia-smi`.
    """
    cpu = cpu_model(platform.processor() or "unknown")
    accelerators = []
    try:
        if backend == "jax":
            probe = ("import jax, json; print(json.dumps([d.device_kind "
                     "for d in jax.devices() if d.platform != 'cpu']))")
            env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
            out = subprocess.run([sys.executable, "-c", probe], env=env,
                                 capture_output=True, text=True,
                                 timeout=120, check=True).stdout
            accelerators = json.loads(out.strip().splitlines()[-1])
        elif shutil.which("nvidia-smi"):
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=60, check=True,
            ).stdout
            accelerators = [x.strip() for x in out.splitlines() if x.strip()]
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        accelerators = []
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return {"cpu": cpu, "cores": cores,
            "accelerators": [str(a) for a in accelerators],
            "platform": f"{platform.system()} {platform.machine()}"}


def _git_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def make_record(metrics, *, run, family, role, request, machine,
                parallel=1, process_wall_s=None, weights_file=None,
                weights_path=None, git_commit=None, study_command=None,
                epoch_times=None, curve=None):
    """The result record of one finished run, from its `metrics.json`.

    Args:
        metrics: the run's `metrics.json` dict.
        run: its `Run`.
        family, role: the place the record is for.
        request: dict of the requested overrides (`batch_size`,
            `train_subset`, `test_subset`, `steps_per_epoch`).
        machine: `machine_info()`.
        parallel: training processes run at once.
        process_wall_s: wall time of the process, or `None`.
        weights_file: the selected weights' path relative to the scratch
            folder, and `weights_path` where they are now (for the hash).
        git_commit, study_command: provenance, or `None`.
        epoch_times: the logged epoch times in seconds (`epoch_times()`),
            or `None`.
        curve: the run's per-epoch curve (`epoch_curve()`), or `None`.

    Returns:
        dict following `SCHEMA`.
    """
    fit = float(metrics["fit_time_s"])
    logged = float(metrics["train_time_s_all_runs"])
    one_process = (int(metrics["resumed_from_epoch"]) == 0
                   and metrics["epochs_run_now"] == metrics["epochs"])
    epochs_timed = int(metrics["epochs_completed"])
    seconds = fit if one_process else logged
    images = (int(metrics["steps_per_epoch"])
              * int(metrics["global_batch_size"]) * epochs_timed)
    best, last = metrics["test"]["best"], metrics["test"]["last"]
    selection = metrics["selection"]
    weights = {"file": None, "sha256": None, "bytes": None}
    if weights_path is not None and os.path.exists(weights_path):
        weights = {"file": weights_file, "sha256": sha256_file(weights_path),
                   "bytes": os.path.getsize(weights_path)}
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": metrics["dataset"],
        "family": family,
        "role": role,
        "run_name": run.name,
        "network": {"key": run.entry.key, "label": run.entry.label,
                    "hparams": dict(run.entry.hparams)},
        "seed": int(metrics["seed"]),
        "epochs": int(metrics["epochs"]),
        "epochs_completed": int(metrics["epochs_completed"]),
        "recipe": {"name": metrics["recipe"]["name"],
                   "config": metrics["recipe"]},
        "batch_size": int(metrics["global_batch_size"]),
        "steps_per_epoch": int(metrics["steps_per_epoch"]),
        "request": dict(request),
        "data": {
            "train_examples": int(metrics["train_examples"]),
            "validation_examples": int(metrics["validation_examples"]),
            "test_examples": int(metrics["test_examples"]),
            "validation_split": metrics["validation_split"],
            "validation_seed": int(metrics["validation_seed"]),
            "pipeline": str(metrics.get("pipeline")),
        },
        "selection": {
            "split": selection["split"],
            "monitor": selection["monitor"],
            "epoch": int(selection["epoch"]),
            "validation_accuracy": selection["value"],
        },
        "test": {
            "best": {"epoch": int(best["epoch"]),
                     "accuracy": float(best["accuracy"]),
                     "loss": float(best["loss"])},
            "last": {"epoch": int(last["epoch"]),
                     "accuracy": float(last["accuracy"]),
                     "loss": float(last["loss"])},
        },
        "reported": "best",
        "test_accuracy": float(best["accuracy"]),
        "params": {k: int(metrics["params"][k])
                   for k in ("trainable", "non_trainable", "total")},
        "cost": {
            "fit_time_s": fit,
            "epoch_time_s": logged,
            "timed_from": "fit" if one_process else "epoch log",
            "epochs_timed": epochs_timed,
            "train_images": images,
            "train_images_per_s": images / seconds if seconds > 0 else 0.0,
            "wall_time_s": float(metrics["wall_time_s"]),
            "process_wall_s": process_wall_s,
            "resumed_from_epoch": int(metrics["resumed_from_epoch"]),
            "parallel": int(parallel),
            "epoch_times_s": (None if epoch_times is None
                              else [float(t) for t in epoch_times]),
        },
        "backend": metrics["backend"],
        "devices": [str(d) for d in metrics["devices"]],
        "machine": machine,
        "versions": metrics["versions"],
        "code": {"git_commit": git_commit},
        "date": metrics["finished_at"],
        "command": metrics["command"],
        "study_command": study_command,
        "curve": curve,
        "weights": weights,
    }


# ---------------------------------------------------------------------------
# Running the study.


def _log_column(rows, key):
    """Column `key` of `log.csv` rows as floats; `None` when it is empty
    or an epoch lacks a number."""
    values = [row.get(key) for row in rows]
    if not values or not all(isinstance(x, float) for x in values):
        return None
    return values


def epoch_times(run_dir, rows=None):
    """The logged time of each epoch of the run in `run_dir`, in seconds
    (its `log.csv`, every process of a resumed run); `None` when the log is
    missing or an epoch has no time. `rows`: the log already read
    (`read_csv_log`)."""
    if rows is None:
        rows = read_csv_log(RunDir(run_dir).log)
    return _log_column(rows, "epoch_time_s")


def epoch_curve(run_dir, rows=None):
    """The run's per-epoch curve for its record: each `CURVE_COLUMNS`
    column of its `log.csv` (`None` for one the log lacks); `None` when
    there is no log. `rows`: the log already read (`read_csv_log`)."""
    if rows is None:
        rows = read_csv_log(RunDir(run_dir).log)
    if not rows:
        return None
    return {key: _log_column(rows, key) for key in CURVE_COLUMNS}


def _finished_metrics(run_dir, epochs):
    """The run's `metrics.json` when it finished all epochs, else None."""
    return RunDir(run_dir).finished(epochs)


def _child_env(backend, parallel):
    env = dict(os.environ)
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if parallel > 1:
        env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION",
                       f"{0.9 / parallel:.3f}")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _last_line(path):
    try:
        with open(path, errors="replace") as f:
            lines = [x.strip() for x in f if x.strip()]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


def run_study(families=None, *, seeds=DEFAULT_SEEDS, epochs=DEFAULT_EPOCHS,
              parallel=1, results_dir=DEFAULT_RESULTS,
              scratch_dir=DEFAULT_SCRATCH, recipe=DEFAULT_RECIPE,
              batch_size=None, train_subset=None, test_subset=None,
              steps_per_epoch=None, backend=None, data_dir=None,
              study_command=None, log=print, poll_s=1.0, train=True,
              stop_after=None):
    """Trains every missing run of the study and writes its result files.

    Args:
        families: `PAIRS` keys (default: all five).
        seeds: training seeds of every network. Defaults to `(0, 1, 2)`.
        epochs: int. Epochs of every run. Defaults to 30.
        parallel: int. Training processes at once. Defaults to 1.
        results_dir: where the result files go (`<family>/<run>.json`).
        scratch_dir: run directories and the selected weights
            (`best/<run>.keras`); not committed.
        recipe: the recipe of every run. Defaults to `"quick"`.
        batch_size: global batch (default: the recipe's).
        train_subset, test_subset: first N images only (tests).
        steps_per_epoch: override (tests).
        backend: `KERAS_BACKEND` of the training processes (default:
            inherited).
        data_dir: directory of the Fashion-MNIST IDX files.
        study_command: the command line to record.
        log: called with one line per run (`None`: silent).
        poll_s: seconds between checks on the running processes.
        train: bool. `False` trains nothing: only the runs whose directory
            in `scratch_dir` holds a finished run are recorded (e.g. a run
            trained in the background by its own `resvariants train`
            command, or one that outlived its study); the others are
            listed as `unfinished`. Defaults to `True`.
        stop_after: seconds, or `None` (the default: no limit). Once the
            study has run this long it starts no more runs and terminates
            the running ones (their folders keep the `BackupAndRestore`
            state, so a later study on the same machine resumes them);
            both are listed as `stopped`. For a machine lent for a fixed
            time: what finished is recorded.

    Returns:
        dict: `trained`, `skipped`, `failed`, `unfinished` and `stopped`
        run names.

    Raises:
        ValueError: for invalid arguments, or a result file of the same
            name that records another run.
    """
    log = log or (lambda line: None)
    runs = plan_runs(families, seeds=seeds, epochs=epochs, recipe=recipe,
                     batch_size=batch_size, train_subset=train_subset,
                     test_subset=test_subset,
                     steps_per_epoch=steps_per_epoch)
    parallel = v.check_positive_int("parallel", parallel)
    if stop_after is not None:
        stop_after = v.check_float("stop_after", stop_after, low=0.0,
                                   high=float("inf"))
    if backend is not None:
        v.check_choice("backend", backend, BACKENDS)
    if data_dir is not None and not os.path.isdir(data_dir):
        raise ValueError(f"`data_dir` must be a directory. Received: "
                         f"data_dir={data_dir!r}")
    request = {"batch_size": batch_size, "train_subset": train_subset,
               "test_subset": test_subset,
               "steps_per_epoch": steps_per_epoch}
    env = _child_env(backend, parallel)
    context = {}

    def provenance():
        if not context:
            context["machine"] = machine_info(
                backend or env.get("KERAS_BACKEND") or _keras_backend())
            context["git_commit"] = _git_commit()
        return context

    started = time.perf_counter()
    summary = {"trained": [], "skipped": [], "failed": [], "unfinished": [],
               "stopped": []}
    todo = []
    total = len(runs)
    for i, run in enumerate(runs, 1):
        head = f"[{i}/{total}] {_describe(run)}"
        existing = _existing_records(run, results_dir, request, recipe,
                                     epochs)
        if len(existing) == len(run.places):
            log(f"{head}: skipped (result file exists)")
            summary["skipped"].append(run.name)
            continue
        # A shared run recorded for one family only, maybe one not
        # requested now (ResNet-20 trained for Res-SE, then asked for by
        # SeqConv): recorded in the other places, not retrained.
        existing = existing or _shared_record(run, results_dir, request,
                                              recipe, epochs)
        if existing:
            source = next(iter(existing.values()))
            for family, role in run.places:
                if (family, role) not in existing:
                    _write_json(_result_path(results_dir, family, run.name),
                                dict(source, family=family, role=role))
            log(f"{head}: recorded from {source['family']}'s result file")
            summary["skipped"].append(run.name)
            continue
        todo.append((head, run))

    def finish(head, run, metrics, process_wall_s):
        run_dir = os.path.join(scratch_dir, run.name)
        weights_file = os.path.join("best", run.name + ".keras")
        weights_path = os.path.join(scratch_dir, weights_file)
        best = RunDir(run_dir).best
        if os.path.exists(best):
            os.makedirs(os.path.dirname(weights_path), exist_ok=True)
            shutil.copyfile(best, weights_path)
        ctx = provenance()
        rows = read_csv_log(RunDir(run_dir).log)  # read once for both
        times = epoch_times(run_dir, rows)
        curve = epoch_curve(run_dir, rows)
        record = None
        for family, role in run.places:
            record = make_record(
                metrics, run=run, family=family, role=role, request=request,
                machine=ctx["machine"], parallel=parallel,
                process_wall_s=process_wall_s, weights_file=weights_file,
                weights_path=weights_path, git_commit=ctx["git_commit"],
                study_command=study_command, epoch_times=times,
                curve=curve)
            check_result(record)
            _write_json(_result_path(results_dir, family, run.name), record)
        log(f"{head}: test accuracy {100 * record['test_accuracy']:.2f}% "
            f"(epoch {record['selection']['epoch']} selected on "
            f"validation; last {100 * record['test']['last']['accuracy']:.2f}"
            f"%), {record['cost']['train_images_per_s']:.0f} train img/s, "
            f"{record['cost']['wall_time_s']:.0f} s")
        summary["trained"].append(run.name)

    pending = []
    for head, run in todo:
        metrics = _finished_metrics(os.path.join(scratch_dir, run.name),
                                    epochs)
        if metrics is not None:  # trained, but the study stopped before
            finish(head, run, metrics, None)
        elif train:
            pending.append((head, run))
        else:
            log(f"{head}: not finished in {scratch_dir} (not trained: "
                "record only)")
            summary["unfinished"].append(run.name)

    active = []
    os.makedirs(os.path.join(scratch_dir, "logs"), exist_ok=True)
    try:
        while pending or active:
            while pending and len(active) < parallel:
                head, run = pending.pop(0)
                run_dir = os.path.join(scratch_dir, run.name)
                log_path = os.path.join(scratch_dir, "logs",
                                        run.name + ".log")
                command = accuracy.train_command(
                    run.entry, epochs=epochs, seed=run.seed,
                    output_dir=run_dir, recipe=recipe,
                    batch_size=batch_size, train_subset=train_subset,
                    test_subset=test_subset,
                    steps_per_epoch=steps_per_epoch,
                    validation_split=VALIDATION_SPLIT,
                    validation_seed=VALIDATION_SEED, data_dir=data_dir,
                    extra=["--no-tensorboard"])
                with open(log_path, "a") as out:
                    process = subprocess.Popen(
                        command, env=env, stdout=out,
                        stderr=subprocess.STDOUT)
                active.append((head, run, process, time.perf_counter(),
                               log_path))
            time.sleep(poll_s if active else 0)
            still = []
            for head, run, process, started, log_path in active:
                rc = process.poll()
                if rc is None:
                    still.append((head, run, process, started, log_path))
                    continue
                wall = time.perf_counter() - started
                metrics = (_finished_metrics(
                    os.path.join(scratch_dir, run.name), epochs)
                    if rc == 0 else None)
                if metrics is None:
                    log(f"{head}: FAILED (exit {rc}; {log_path}: "
                        f"{_last_line(log_path)})")
                    summary["failed"].append(run.name)
                else:
                    finish(head, run, metrics, wall)
            active = still
            if (stop_after is not None and (pending or active)
                    and time.perf_counter() - started >= stop_after):
                for head, run, process, _, _ in active:
                    process.terminate()  # waited for below
                    log(f"{head}: stopped after {stop_after:g} s")
                for head, run in pending:
                    log(f"{head}: not started (stopped after "
                        f"{stop_after:g} s)")
                summary["stopped"] += [a[1].name for a in active] + [
                    run.name for _, run in pending]
                break
    finally:
        for _, _, process, _, _ in active:  # interrupted: stop ours only
            if process.poll() is None:
                process.terminate()
        for _, _, process, _, _ in active:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return summary


def _keras_backend():
    import keras

    return keras.backend.backend()


def _describe(run):
    places = ", ".join(f"{family} {role}" for family, role in run.places)
    return f"{run.entry.label} seed {run.seed} ({places}) {run.name}"


def _expected_identity(run, request, recipe, epochs):
    return {
        "dataset": DATASET, "key": run.entry.key,
        "hparams": json.loads(json.dumps(dict(run.entry.hparams))),
        "recipe": recipe, "epochs": epochs, "seed": run.seed,
        "request": request, "validation_split": VALIDATION_SPLIT,
        "validation_seed": VALIDATION_SEED,
    }


def _shared_record(run, results_dir, request, recipe, epochs):
    """`{(family, role): record}` with the run's result file from another
    family's folder (same network, settings and seed), or `{}`."""
    expected = _expected_identity(run, request, recipe, epochs)
    for family in PAIRS_ORDER:
        path = _result_path(results_dir, family, run.name)
        if os.path.exists(path):
            record = check_result(_read_json(path), path)
            if _identity(record) == expected:
                return {(family, record["role"]): record}
    return {}


def _existing_records(run, results_dir, request, recipe, epochs):
    """`{(family, role): record}` of the run's result files present."""
    out = {}
    expected = _expected_identity(run, request, recipe, epochs)
    for family, role in run.places:
        path = _result_path(results_dir, family, run.name)
        if not os.path.exists(path):
            continue
        record = check_result(_read_json(path), path)
        if _identity(record) != expected or record["role"] != role:
            raise ValueError(
                f"The result file {path} records another run than "
                f"{run.name} ({_identity(record)} with role "
                f"{record['role']!r}). Move it away or fix it by hand."
            )
        out[(family, role)] = record
    return out


# ---------------------------------------------------------------------------
# The report.


def load_results(results_dir):
    """Every result file under `results_dir/<family>/`, checked.

    A missing `results_dir` holds no results.

    Returns:
        list of records, sorted by family and run name.
    """
    records = []
    if not os.path.isdir(results_dir):
        return records
    for family in sorted(os.listdir(results_dir)):
        folder = os.path.join(results_dir, family)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.endswith(".json"):
                path = os.path.join(folder, name)
                records.append(check_result(_read_json(path), path))
    return records


def _budget(record):
    """What runs must share to be compared (one table per budget)."""
    return {
        "recipe": record["recipe"]["config"],
        "epochs": record["epochs"],
        "batch_size": record["batch_size"],
        "steps_per_epoch": record["steps_per_epoch"],
        "train_examples": record["data"]["train_examples"],
        "validation_examples": record["data"]["validation_examples"],
        "validation_seed": record["data"]["validation_seed"],
        "test_examples": record["data"]["test_examples"],
    }


def _network_id(record):
    return json.dumps([record["network"]["key"],
                       record["network"]["hparams"]], sort_keys=True)


def summarize(records):
    """Per family and budget, each network's statistics and each
    variant's paired comparison with the baseline.

    Returns:
        `{family: [group, ...]}`, a group being a dict with `budget`,
        `runs` (its records) and `rows` (one per network, the baseline
        first: `id` (`_network_id`), `label`, `key`, `hparams`, `role`,
        `seeds`, `n`, `mean`,
        `std` (None for n = 1), `last_mean`, `params`,
        `images_per_s` (mean of `steady_images_per_s`), and for variants
        `interval` (`paired_interval` of the same-seed differences),
        `verdict`, `speed` (`_speed_ratio`: variant over baseline speed,
        same seed and machine; None without such a seed) and
        `speed_seeds` (the seeds it averages)).
    """
    out = {}
    families = sorted({r["family"] for r in records},
                      key=lambda f: (PAIRS_ORDER.index(f)
                                     if f in PAIRS_ORDER else len(
                                         PAIRS_ORDER), f))
    for family in families:
        groups = {}
        for r in records:
            if r["family"] == family:
                key = json.dumps(_budget(r), sort_keys=True)
                groups.setdefault(key, []).append(r)
        out[family] = [_summarize_group(family, json.loads(k), groups[k])
                       for k in sorted(groups)]
    return out


def _order(family):
    if family not in accuracy.PAIRS:
        return []
    _, *entries = accuracy.PAIRS[family]
    return [json.dumps([e.key, json.loads(json.dumps(dict(e.hparams)))],
                       sort_keys=True) for e in entries]


def _summarize_group(family, budget, runs):
    networks = {}
    for r in runs:
        networks.setdefault(_network_id(r), []).append(r)
    known = _order(family)

    def rank(nid):
        role = networks[nid][0]["role"]
        return (role != "baseline",
                known.index(nid) if nid in known else len(known),
                networks[nid][0]["network"]["label"], nid)

    rows, seeded = [], []  # seeded[i]: row i's records by seed
    baseline, baseline_runs = None, {}
    for nid in sorted(networks, key=rank):
        rs = sorted(networks[nid], key=lambda r: r["seed"])
        acc = np.array([r["test_accuracy"] for r in rs])
        speed = [steady_images_per_s(r) for r in rs]
        row = {
            "label": rs[0]["network"]["label"],
            "key": rs[0]["network"]["key"],
            "hparams": rs[0]["network"]["hparams"],
            "role": rs[0]["role"],
            "seeds": [r["seed"] for r in rs],
            "n": len(rs),
            "mean": float(acc.mean()),
            "std": float(acc.std(ddof=1)) if len(rs) > 1 else None,
            "last_mean": float(np.mean([r["test"]["last"]["accuracy"]
                                        for r in rs])),
            "params": rs[0]["params"]["trainable"],
            "images_per_s": float(np.mean(speed)),
            "by_seed": {r["seed"]: r["test_accuracy"] for r in rs},
            "id": nid,
        }
        seeded.append({r["seed"]: r for r in rs})
        if row["role"] == "baseline" and baseline is None:
            baseline, baseline_runs = row, seeded[-1]
        rows.append(row)
    for row, row_runs in zip(rows, seeded):
        if row["role"] != "variant":
            continue
        base = baseline["by_seed"] if baseline else {}
        seeds = sorted(set(row["by_seed"]) & set(base))
        row["interval"] = accuracy.paired_interval(
            row["by_seed"][s] - base[s] for s in seeds)
        row["verdict"] = accuracy.verdict(row["interval"])
        row["speed"], row["speed_seeds"] = _speed_ratio(row_runs,
                                                        baseline_runs)
    return {"budget": budget, "runs": runs, "rows": rows}


def steady_images_per_s(record):
    """Training images per second of one run over the lower quartile of
    its epoch times. Every epoch does the same work, and other work on the
    machine only adds time, so the faster epochs measure the run's own
    cost: the first epoch's compilation and up to three quarters of the
    epochs slowed by something else do not count. Records without epoch
    times give their `train_images_per_s` (over all epochs)."""
    cost = record["cost"]
    times = cost.get("epoch_times_s")
    seconds = float(np.percentile(times, 25)) if times else 0.0
    if seconds <= 0:
        return float(cost["train_images_per_s"])
    return record["steps_per_epoch"] * record["batch_size"] / seconds


def _where(record):
    m = record["machine"]
    return (record["backend"], m["cpu"], m["cores"], tuple(m["accelerators"]),
            record["cost"]["parallel"])


def _speed_ratio(variant_runs, baseline_runs):
    """Mean over the seeds where the variant and the baseline ran on the
    same machine, backend and parallelism of the variant's steady images/s
    over the baseline's; `(None, [])` without such a seed. Both arguments
    map seed -> record."""
    seeds, ratios = [], []
    for seed, run in sorted(variant_runs.items()):
        base = baseline_runs.get(seed)
        if base is None or _where(base) != _where(run):
            continue
        b = steady_images_per_s(base)
        if b > 0:
            seeds.append(seed)
            ratios.append(steady_images_per_s(run) / b)
    return (float(np.mean(ratios)) if ratios else None), seeds


def _pct(x):
    return f"{100 * x:.2f}"


def _pts(x):
    return f"{100 * x:+.2f}"


def _hparams_text(hparams):
    return ", ".join(f"{k}={json.dumps(val)}" for k, val in
                     sorted(hparams.items()))


def _entry_text(entry):
    hp = _hparams_text(dict(entry.hparams))
    return f"`{entry.key}`" + (f" ({hp})" if hp else "")


def _recipe_digest(recipe):
    """Eight hex digits naming a recipe's full config."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()
                          ).hexdigest()[:8]


def _budget_text(budget, runs):
    recipe = budget["recipe"]
    digest = _recipe_digest(recipe)
    lines = [
        f"Recipe `{recipe['name']}` (config {digest}), "
        f"{budget['epochs']} epochs, batch {budget['batch_size']} "
        f"({budget['steps_per_epoch']} steps per epoch); "
        f"{budget['train_examples']:,} training / "
        f"{budget['validation_examples']:,} validation (seed "
        f"{budget['validation_seed']}) / {budget['test_examples']:,} test "
        "images."
    ]
    machines = {}
    for r in runs:
        key = (r["backend"], _machine_text(r), r["cost"]["parallel"])
        machines[key] = machines.get(key, 0) + 1
    lines.append("Runs: " + "; ".join(
        f"{n} with {backend} on {where}, {parallel} at a time"
        for (backend, where, parallel), n in sorted(machines.items()))
        + ".")
    return lines


def _machine_text(record):
    """Where a run trained: its GPUs, else its CPU and cores."""
    m = record["machine"]
    return (", ".join(m["accelerators"]) if m["accelerators"]
            else f"{m['cpu']} ({m['cores']} cores)")


def _budget_label(budget, budgets):
    """A column label for `budget`: its epochs, and whatever else tells it
    apart from the other `budgets` of the same number of epochs."""
    label = f"{budget['epochs']} epochs"
    twins = [b for b in budgets
             if b["epochs"] == budget["epochs"] and b != budget]
    if not twins:
        return label
    extra = [f"{k.replace('_', ' ')} {budget[k]}"
             for k in sorted(budget) if k not in ("epochs", "recipe")
             and any(t.get(k) != budget[k] for t in twins)]
    if any(t["recipe"] != budget["recipe"] for t in twins):
        extra.append(f"recipe {budget['recipe']['name']} "
                     f"{_recipe_digest(budget['recipe'])}")
    return f"{label} ({', '.join(extra)})"


def accuracy_by_budget(summary):
    """Each network's test accuracy at each budget it was trained for.

    A network that is in several families (ResNet-20) is one row, and a
    run recorded in several families counts once.

    Returns:
        `(budgets, rows)`: the budgets sorted by epochs, and one row per
        network in the report's order, `{"label", "id", "cells"}`, where
        `cells[i]` is `{"seeds", "mean", "std"}` for `budgets[i]` (`std`
        None for one seed), or None.
    """
    budgets, labels, by_seed = [], {}, {}
    for groups in summary.values():
        for group in groups:
            key = json.dumps(group["budget"], sort_keys=True)
            if group["budget"] not in budgets:
                budgets.append(group["budget"])
            for row in group["rows"]:
                labels.setdefault(row["id"], row["label"])
                # Same network, budget and seed: the same run.
                by_seed.setdefault((row["id"], key), {}).update(
                    row["by_seed"])
    budgets.sort(key=lambda b: (b["epochs"],
                                json.dumps(b, sort_keys=True)))
    keys = [json.dumps(b, sort_keys=True) for b in budgets]
    rows = []
    for nid, label in labels.items():
        cells = []
        for key in keys:
            accs = by_seed.get((nid, key))
            if not accs:
                cells.append(None)
                continue
            acc = np.array([accs[s] for s in sorted(accs)])
            cells.append({
                "seeds": sorted(accs),
                "mean": float(acc.mean()),
                "std": float(acc.std(ddof=1)) if len(acc) > 1 else None,
            })
        rows.append({"label": label, "id": nid, "cells": cells})
    return budgets, rows


def _by_budget_text(summary):
    """Lines of the accuracy-by-budget table; none without runs."""
    budgets, rows = accuracy_by_budget(summary)
    if not budgets:
        return []
    lines = [
        "",
        "## Accuracy by budget",
        "",
        "Test accuracy % of each network at every budget it was trained "
        "for: mean ± std over its seeds, the seeds in parentheses, "
        "whichever family recorded the run. The family sections below "
        "pair the networks at each budget.",
        "",
        "| network | " + " | ".join(_budget_label(b, budgets)
                                   for b in budgets) + " |",
        "|---|" + "---|" * len(budgets),
    ]
    for row in rows:
        cells = []
        for cell in row["cells"]:
            if cell is None:
                cells.append("")
                continue
            std = "" if cell["std"] is None else f" ± {_pct(cell['std'])}"
            seeds = " ".join(str(s) for s in cell["seeds"])
            cells.append(f"{_pct(cell['mean'])}{std} ({seeds})")
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return lines


def every_run(summary):
    """Each finished run once, in the order of the accuracy-by-budget
    table's rows, then by budget and seed.

    A run recorded in several families (ResNet-20's, shared by two pairs)
    is one entry.

    Returns:
        `(budgets, runs)`: the budgets as `accuracy_by_budget` sorts them,
        and one `{"record", "budget", "families"}` per run (`budget` an
        index into `budgets`, `families` the sorted families that recorded
        it).
    """
    budgets, rows = accuracy_by_budget(summary)
    keys = [json.dumps(b, sort_keys=True) for b in budgets]
    order = [row["id"] for row in rows]
    runs = {}
    for family, groups in summary.items():
        for group in groups:
            b = keys.index(json.dumps(group["budget"], sort_keys=True))
            for r in group["runs"]:
                entry = runs.setdefault(
                    (order.index(_network_id(r)), b, r["seed"]),
                    {"record": r, "budget": b, "families": set()})
                entry["families"].add(family)
    out = []
    for key in sorted(runs):
        entry = runs[key]
        entry["families"] = sorted(entry["families"])
        out.append(entry)
    return budgets, out


def _runs_text(summary):
    """Lines of the table of every run; none without runs."""
    budgets, runs = every_run(summary)
    if not runs:
        return []
    lines = [
        "",
        "## Every run",
        "",
        "One row per finished run (a run two families share is one row): "
        "when it finished, where, the wall time of `train()` in the "
        "process that finished it (data, compilation and the test "
        "included), the epoch selected on validation, and the test "
        "accuracy of the selected and of the last epoch's weights.",
        "",
        "| network | budget | seed | families | finished (UTC) | machine | "
        "backend | wall s | selected epoch (val %) | test % | last epoch "
        "% |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in runs:
        r = entry["record"]
        sel = r["selection"]
        val = sel["validation_accuracy"]
        chosen = f"{sel['epoch']}" + ("" if val is None
                                      else f" ({_pct(val)})")
        parallel = r["cost"]["parallel"]
        machine = _machine_text(r) + (f", {parallel} at a time"
                                      if parallel > 1 else "")
        lines.append(
            f"| {r['network']['label']} | "
            f"{_budget_label(budgets[entry['budget']], budgets)} | "
            f"{r['seed']} | {', '.join(entry['families'])} | "
            f"{r['date'][:16].replace('T', ' ')} | {machine} | "
            f"{r['backend']} | {r['cost']['wall_time_s']:,.0f} | {chosen} | "
            f"{_pct(r['test_accuracy'])} | "
            f"{_pct(r['test']['last']['accuracy'])} |")
    return lines


def _curve_epochs(epochs, most=15, keep=()):
    """The 1-based epochs a curve table shows: all of them up to `most`,
    else `most` evenly spaced ones, the first and the last included, and
    the epochs `keep` (the selected ones) in any case."""
    if epochs <= most:
        return list(range(1, epochs + 1))
    spaced = {int(round(x)) for x in np.linspace(1, epochs, most)}
    return sorted(spaced | {e for e in keep if 1 <= e <= epochs})


def _curves_text(group):
    """Lines of the group's validation curves (the runs whose record
    keeps its `curve`); none when no run does."""
    order = [row["id"] for row in group["rows"]]  # baseline first
    runs = sorted(
        (r for r in group["runs"]
         if (r.get("curve") or {}).get("val_accuracy")),
        key=lambda r: (order.index(_network_id(r)), r["seed"]))
    if not runs:
        return []
    shown = _curve_epochs(
        max(len(r["curve"]["val_accuracy"]) for r in runs),
        keep=[r["selection"]["epoch"] for r in runs])
    lines = [
        "",
        "Validation accuracy (%) after each epoch, for the runs whose "
        "record keeps its curve (the selected epoch in bold), and the "
        "last epoch's training accuracy (augmented images, over the "
        "epoch):",
        "",
        "| network | seed | " + " | ".join(str(e) for e in shown)
        + " | train, last epoch |",
        "|---|---|" + "---|" * len(shown) + "---|",
    ]
    for r in runs:
        val = r["curve"]["val_accuracy"]
        cells = []
        for e in shown:
            if e > len(val):
                cells.append("")
                continue
            text = _pct(val[e - 1])
            cells.append(f"**{text}**" if e == r["selection"]["epoch"]
                         else text)
        train = r["curve"]["accuracy"]
        cells.append(_pct(train[-1]) if train else "–")
        lines.append(f"| {r['network']['label']} | {r['seed']} | "
                     + " | ".join(cells) + " |")
    return lines


def render_report(results_dir=DEFAULT_RESULTS, display_dir=None):
    """The markdown report of the study, from the result files alone.

    Deterministic: the same files give the same text (no generation
    date; everything sorted).

    Args:
        results_dir: the results folder.
        display_dir: the folder as the text names it (default:
            `results_dir`).

    Returns:
        str.
    """
    display = display_dir or results_dir
    records = load_results(results_dir)
    summary = summarize(records)
    lines = [
        "# Accuracy on Fashion-MNIST: each paper's variant against its "
        "baseline",
        "",
        f"Generated from the result files in `{display}` (one JSON file "
        "per finished run; schema in "
        "[results/README.md](../results/README.md)) by",
        "",
        f"    python -m keras_resvariants.bench.study report {display} "
        "> docs/accuracy_fashion_mnist.md",
        "",
        "Do not edit by hand: add runs with `resvariants study` "
        "(`keras_resvariants/bench/study.py`) and regenerate.",
        "",
        "## Method",
        "",
        "- Each family pairs the paper's variant with the paper's "
        "baseline; both are trained by `resvariants train` with the same "
        "recipe, epochs, batch and seeds, on the same images.",
        "- Training images are held out for validation (5,000 of the "
        "60,000 in a full run; validation seed 0, the same images for "
        "every run); the epoch of the best validation accuracy is "
        "selected, and the test set (all 10,000 images in a full run) is "
        "read once, after training. The tables report the test accuracy "
        "of the selected epoch (\"last epoch\": of the final weights) and "
        "give the image counts of their runs. See [design.md](design.md), "
        "\"Model selection and the test set\".",
        "- Δ = variant − baseline on the same seed, in percentage "
        "points: mean and two-sided 95% t-interval, mean ± "
        "t(0.975, n−1) · s / √n over the n paired seeds.",
        "- Verdict rule, fixed before any run: **better** only when the "
        "interval lies above 0, **worse** only when it lies below 0, "
        "otherwise **no detectable difference**; one paired seed gives "
        "no interval (**insufficient seeds**).",
        "- Cost: training images per second over the lower quartile of "
        "the run's logged epoch times (steps × batch over it, validation "
        "included). Every epoch does the same work and other work on the "
        "machine only adds time, so the first epoch's compilation and "
        "epochs slowed by something else do not count; runs recorded "
        "before the "
        "epoch times were kept are timed over all epochs (steps × batch × "
        "epochs over the wall time of `fit`). The speed of a variant is "
        "the mean, over the seeds where both ran on the same machine, "
        "backend and parallelism, of its images/s over the baseline's; "
        "the seeds are named, and \"–\" means there was no such seed.",
        "- The published weights ([saved_models/](../saved_models/)) "
        "come from these runs; their model cards carry each run's "
        "recipe, epochs, seed, selection and wall time. The 1–2-epoch "
        "single-seed weights they replaced (all training images, last "
        "epoch, no selection) are in the repository's history only.",
        "",
        "## Pairs",
        "",
        "| family | baseline | variant | claim |",
        "|---|---|---|---|",
    ]
    for family, (claim, baseline, *variants) in accuracy.PAIRS.items():
        lines.append(
            f"| {family} | {_entry_text(baseline)} | "
            f"{', '.join(_entry_text(e) for e in variants)} | {claim} |")
    lines += [
        "",
        "SeqConv's SeqResNet is k8 r1, smaller than the paper's k8 r4, "
        "for the CPU budget. `ror_resnet_56` also drops layers "
        "(stochastic depth, `drop_rate` 0.2), so the RoR pair measures "
        "the merges and the drops together; the RoR paper's own "
        "baseline, stochastic depth (`sdepth_resnet_56` width 16: the "
        "same net with `represent_ratio=0`), would isolate the merges and "
        "is not in this study yet (a family takes more than one variant, "
        "each compared with its baseline).",
        "",
        "These are short budgets. For scale: Zhong et al.'s Random "
        "Erasing code (AAAI 2020; `fashionmnist.py` in "
        "github.com/zhunzhong07/Random-Erasing) trains on Fashion-MNIST "
        "for 300 epochs (learning rate divided by 10 at epochs 150 and "
        "225, weight decay 5e-4, crop and flip) and reports 4.39% test "
        "error for ResNet-20 and 4.16% for ResNet-32 without random "
        "erasing (95.61% and 95.84%, best epoch read on the test set); "
        "15 epochs are 5% of that budget.",
        "",
        "Adding runs (finished runs are skipped, so new seeds and pairs "
        "add to the files; see [results/README.md](../results/README.md)):",
        "",
        "```bash",
        "resvariants study --families res_se --seeds 0 1 --epochs 15",
        "KERAS_BACKEND=jax resvariants study --backend jax --seeds 0 1 2 "
        "\\",
        "    --epochs 30 --parallel 9 --report "
        "docs/accuracy_fashion_mnist.md",
        "```",
    ]
    lines += _by_budget_text(summary)
    families = list(accuracy.PAIRS) + sorted(
        f for f in summary if f not in accuracy.PAIRS)
    for family in families:
        lines += ["", f"## {family}", ""]
        groups = summary.get(family)
        if not groups:
            lines.append("No finished runs yet.")
            continue
        for i, group in enumerate(groups):
            if i:
                lines.append("")
            lines += _budget_text(group["budget"], group["runs"])
            lines += [
                "",
                "| network | params | seeds | test accuracy % | last "
                "epoch % | Δ vs baseline, pts [95% CI] | verdict | train "
                "img/s | speed vs baseline |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for row in group["rows"]:
                hp = _hparams_text(row["hparams"])
                name = (f"{row['label']} (`{row['key']}`"
                        + (f", {hp}" if hp else "") + ")")
                if row["role"] == "baseline":
                    name += ", baseline"
                std = "" if row["std"] is None else f" ± {_pct(row['std'])}"
                delta, verdict, speed = "–", "", "–"
                if row["role"] == "variant":
                    iv = row["interval"]
                    verdict = row["verdict"]
                    if iv["low"] is not None:
                        delta = (f"{_pts(iv['mean'])} [{_pts(iv['low'])}, "
                                 f"{_pts(iv['high'])}]")
                    elif iv["mean"] is not None:
                        delta = f"{_pts(iv['mean'])} (one seed: no interval)"
                    if row["speed"] is not None:
                        on = " ".join(str(x) for x in row["speed_seeds"])
                        speed = f"×{row['speed']:.2f} (seeds {on})"
                seeds = " ".join(str(s) for s in row["seeds"])
                lines.append(
                    f"| {name} | {row['params']:,} | {row['n']} ({seeds}) | "
                    f"{_pct(row['mean'])}{std} | {_pct(row['last_mean'])} | "
                    f"{delta} | {verdict} | {row['images_per_s']:,.0f} | "
                    f"{speed} |")
            lines += _curves_text(group)
    lines += _runs_text(summary)
    lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Command line: `resvariants study` and `python -m ... report|schema`.


def add_subcommand(subparsers):
    """Adds the `study` subcommand to the `resvariants` parser."""
    p = subparsers.add_parser(
        "study", help=HELP, description=HELP + (
            " One process per run (N at once with --parallel), one result "
            "JSON per finished run in RESULTS/<family>/; finished runs are "
            "skipped and interrupted ones resume. See "
            "keras_resvariants/bench/study.py for the GPU command."),
    )
    p.add_argument("--families", nargs="+", default=None, metavar="FAMILY",
                   help="pairs to run: " + ", ".join(accuracy.PAIRS)
                        + " (default: all)")
    p.add_argument("--seeds", type=int, nargs="+",
                   default=list(DEFAULT_SEEDS))
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                   help=f"default: {DEFAULT_EPOCHS}")
    p.add_argument("--parallel", type=int, default=1,
                   help="training processes at once (default: 1)")
    p.add_argument("--results", default=DEFAULT_RESULTS,
                   help=f"result files (default: {DEFAULT_RESULTS})")
    p.add_argument("--scratch", default=DEFAULT_SCRATCH,
                   help="run directories and selected weights, not "
                        f"committed (default: {DEFAULT_SCRATCH})")
    p.add_argument("--recipe", default=DEFAULT_RECIPE,
                   help=f"recipe of every run (default: {DEFAULT_RECIPE})")
    p.add_argument("--batch-size", type=int, default=None,
                   help="global batch (default: the recipe's)")
    p.add_argument("--train-subset", type=int, default=None,
                   help="first N training images only (tests)")
    p.add_argument("--test-subset", type=int, default=None,
                   help="first N test images only (tests)")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="steps per epoch override (tests)")
    p.add_argument("--backend", default=None,
                   help="KERAS_BACKEND of the training processes: "
                        + ", ".join(BACKENDS) + " (default: inherited)")
    p.add_argument("--data-dir", default=None,
                   help="directory of the Fashion-MNIST IDX files")
    p.add_argument("--report", default=None, metavar="FILE",
                   help="write the report to FILE (default: print it)")
    p.add_argument("--stop-after", type=float, default=None,
                   metavar="SECONDS",
                   help="start no run after SECONDS and stop the running "
                        "ones (what finished is recorded; for a machine "
                        "lent for a fixed time)")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--report-only", action="store_true",
                      help="train nothing: only the report from RESULTS")
    only.add_argument("--record-only", action="store_true",
                      help="train nothing: record the runs already "
                           "finished in SCRATCH (e.g. trained in the "
                           "background by their own `resvariants train`), "
                           "then the report")
    p.set_defaults(func=run)
    return p


def run(args):
    """Runs `resvariants study`; returns the exit code."""
    # Should anything in this process touch a GPU through JAX, it must not
    # take the memory the training processes need.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    failed = []
    if not args.report_only:
        summary = run_study(
            args.families, seeds=args.seeds, epochs=args.epochs,
            parallel=args.parallel, results_dir=args.results,
            scratch_dir=args.scratch, recipe=args.recipe,
            batch_size=args.batch_size, train_subset=args.train_subset,
            test_subset=args.test_subset,
            steps_per_epoch=args.steps_per_epoch, backend=args.backend,
            data_dir=args.data_dir,
            study_command="resvariants " + " ".join(
                shlex.quote(a) for a in sys.argv[1:]),
            log=lambda line: print(line, flush=True),
            train=not args.record_only, stop_after=args.stop_after,
        )
        failed = summary["failed"]
        done = "recorded" if args.record_only else "trained"
        print(f"{len(summary['trained'])} {done}, "
              f"{len(summary['skipped'])} skipped, {len(failed)} failed"
              + (f", {len(summary['unfinished'])} unfinished"
                 if args.record_only else "")
              + (f", {len(summary['stopped'])} stopped"
                 if summary["stopped"] else ""),
              flush=True)
    text = render_report(args.results)
    if args.report:
        os.makedirs(os.path.dirname(os.path.abspath(args.report)),
                    exist_ok=True)
        with open(args.report, "w") as f:
            f.write(text)
        print(f"wrote {args.report}")
    else:
        print(text, end="")
    return 1 if failed else 0


def main(argv=None):
    """`python -m keras_resvariants.bench.study report [DIR]` prints the
    report; `... schema` prints `results/schema.json`."""
    parser = argparse.ArgumentParser(
        prog="python -m keras_resvariants.bench.study",
        description="The study's report and result schema. Runs: "
                    "`resvariants study`.")
    sub = parser.add_subparsers(dest="what", required=True)
    report = sub.add_parser("report", help="print the markdown report")
    report.add_argument("results", nargs="?", default=DEFAULT_RESULTS)
    sub.add_parser("schema", help="print the JSON schema of a result file")
    args = parser.parse_args(argv)
    if args.what == "schema":
        print(json.dumps(json_schema(), indent=1, sort_keys=True))
    else:
        sys.stdout.write(render_report(args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
