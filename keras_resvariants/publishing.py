"""Publish a training run as pretrained weights: files, record, model card.

    python -m keras_resvariants.publishing RUN_DIR --tag fashion_mnist \\
        [--output saved_models] [--records PATH] [--checkpoint auto]

`RUN_DIR` is the output directory of `resvariants train` (`last.keras` or
`best.keras`, `run_config.json`, `metrics.json`). The tool

1. picks the checkpoint (`--checkpoint auto`, the default): `best.keras`
   when the run selected it on a split held out from the training images
   (`metrics.json`'s `validation_data` is `"held_out"`), else
   `last.keras`; a checkpoint chosen on the test set is never published
   by default;
2. rebuilds the run's network with the builder and the run's
   hyperparameters (the recipe's `model_kwargs` the network accepts, then
   the run's own `model_kwargs`), checks its weight structure equals the
   checkpoint's and copies the weights over;
3. writes `<arch>.<tag>.weights.h5` (with the head) and
   `<arch>.<tag>.notop.weights.h5` (without) into `--output`;
4. computes their sha256 and the fingerprints of both structures;
5. loads the files back *by tag*, through the same code users run,
   checks the outputs equal the checkpoint's bit for bit, and measures
   top-1 accuracy on the full test split;
6. adds (or replaces) the record in the records file, with a `selection`
   entry saying which checkpoint was published and which split chose it,
   and writes the model card `<arch>.<tag>.md` next to the weights.

Runs made before `train()` held out a validation split by default
(`metrics.json` without `selection`) evaluated the test set after every
epoch; their cards say so ("selected on: test set").
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

import keras
import numpy as np

from keras_resvariants import data as data_lib
from keras_resvariants import recipes
from keras_resvariants import runs
from keras_resvariants.macs import count_parameters
from keras_resvariants.models import get_builder
from keras_resvariants.models import model_info
from keras_resvariants.preprocessing import Preprocessing
from keras_resvariants.preprocessing import preprocess_input
from keras_resvariants.runs import RunDir
from keras_resvariants.weights import loading
from keras_resvariants.weights import registry
from keras_resvariants.weights.fingerprint import fingerprint
from keras_resvariants.weights.fingerprint import weight_structure

CHECKPOINTS = ("auto", "last", "best")

LEGACY_SELECTION = "test set (legacy default: no held-out split)"


def file_names(arch, tag):
    """`(top, notop)` file names of `arch.tag`."""
    return (f"{arch}.{tag}.weights.h5", f"{arch}.{tag}.notop.weights.h5")


def run_hyperparameters(run_config, accepted):
    """The builder hyperparameters a `resvariants train` run used: the
    recipe's `model_kwargs` the network accepts, then the run's own."""
    return recipes.model_arguments(
        (run_config.get("recipe") or {}).get("model_kwargs"),
        run_config.get("model_kwargs"), accepted)


def publish(run_dir, tag, *, output=None, records=None, checkpoint="auto",
            base_url=None, data_dir=None, test_subset=None, batch_size=256,
            command=None):
    """Publishes the weights of a training run (see the module docstring).

    Args:
        run_dir: output directory of `resvariants train`.
        tag: the weights' tag, e.g. `"fashion_mnist"`.
        output: directory for the weight files and the model card.
            Defaults to the repository's `saved_models/`.
        records: records file to update. Defaults to
            `keras_resvariants.weights.records_path()`.
        checkpoint: `"auto"` (default: `"best"` when the run selected
            `best.keras` on a held-out validation split, else `"last"`),
            `"last"` or `"best"`.
        base_url: optional URL prefix the files will be served from.
        data_dir: dataset directory (see `keras_resvariants.data`).
        test_subset: evaluate on only the first N test examples (for
            tests; the record then says so).
        batch_size: evaluation batch size.
        command: the command line to record.

    Returns:
        The new `WeightsRecord`.
    """
    if not isinstance(tag, str) or not tag or not tag.replace(
            "_", "").isalnum():
        raise ValueError(
            "`tag` must be a non-empty name of letters, digits and "
            f"underscores (e.g. 'fashion_mnist'). Received: tag={tag!r}"
        )
    if checkpoint not in CHECKPOINTS:
        raise ValueError(
            f"`checkpoint` must be one of {CHECKPOINTS}. Received: "
            f"checkpoint={checkpoint!r}"
        )
    output = os.path.abspath(output or loading.REPO_WEIGHTS_DIR)
    records = os.path.abspath(records or registry.records_path())
    run = RunDir(run_dir)
    run_config = _read_json(run.config, run_dir)
    metrics = _read_json(run.metrics, run_dir)
    if checkpoint == "auto":
        checkpoint = selected_checkpoint(metrics)
    ckpt_path = run.checkpoint(checkpoint)
    if not os.path.isfile(ckpt_path):
        raise FileNotFoundError(
            f"No {checkpoint}.keras in {run_dir!r}: is it the output "
            "directory of a finished `resvariants train` run?"
        )

    arch = model_info(run_config["model"])["key"]
    info = model_info(arch)
    dataset = data_lib.get_dataset_info(run_config["dataset"])
    hyperparameters = run_hyperparameters(run_config,
                                          info["hyperparameters"])
    input_shape = tuple(dataset.image_shape)
    builder = get_builder(arch)

    trained = keras.saving.load_model(ckpt_path, compile=False)
    top = builder(include_top=True, input_shape=input_shape,
                  classes=dataset.num_classes, **hyperparameters)
    if weight_structure(trained) != weight_structure(top):
        raise ValueError(
            f"The checkpoint {ckpt_path!r} does not have the weight "
            f"structure of {arch} built with {hyperparameters}: was it "
            "trained by another version of keras_resvariants, or with "
            "other hyperparameters?"
        )
    top.set_weights(trained.get_weights())
    notop = builder(include_top=False, input_shape=input_shape,
                    **hyperparameters)
    features = loading.submodel(top, top.inputs[0],
                                loading.features_output(top))
    if weight_structure(features) != weight_structure(notop):
        raise AssertionError("no-top structure differs from the top "
                             "network's features")
    notop.set_weights(features.get_weights())

    os.makedirs(output, exist_ok=True)
    top_name, notop_name = file_names(arch, tag)
    files = {}
    for key, model, name in (("top", top, top_name),
                             ("notop", notop, notop_name)):
        path = os.path.join(output, name)
        model.save_weights(path)
        files[key] = registry.WeightsFile(
            name=name, sha256=loading.sha256_file(path),
            fingerprint=fingerprint(model), size=os.path.getsize(path),
        )

    record = registry.WeightsRecord(
        arch=arch,
        tag=tag,
        dataset=dataset.name,
        classes=dataset.num_classes,
        input_shape=input_shape,
        hyperparameters=hyperparameters,
        preprocessing=Preprocessing(dataset.mean, dataset.std),
        top=files["top"],
        notop=files["notop"],
        metrics=_run_metrics(metrics),
        params=_params(top, info, hyperparameters, builder),
        source=_source(run_dir, run_config, metrics, checkpoint, command),
        base_url=base_url,
        selection=selection_record(metrics, checkpoint),
    )

    # Load back by tag, from `output`, through the users' code path.
    with _published_only(record, output):
        sample = _test_images(dataset, data_dir, 64)[0]
        x = preprocess_input(sample, record)
        by_tag = builder(weights=tag)
        _assert_equal(by_tag.predict(x, verbose=0),
                      top.predict(x, verbose=0), "top")
        by_tag_notop = builder(include_top=False, weights=tag)
        _assert_equal(by_tag_notop.predict(x, verbose=0),
                      notop.predict(x, verbose=0), "no-top")
        accuracy, examples = evaluate(by_tag, record, data_dir=data_dir,
                                      test_subset=test_subset,
                                      batch_size=batch_size)
    record = _replace(record, test_accuracy=accuracy,
                      metrics={**record.metrics,
                               "test_accuracy_remeasured": accuracy,
                               "test_examples_remeasured": examples})
    registry.write_record(record, records)
    card = os.path.join(output, f"{record.name}.md")
    with open(card, "w") as f:
        f.write(model_card(record))
    return record


def selected_checkpoint(metrics):
    """`"best"` when a run's `best.keras` was selected on a held-out
    validation split (`metrics["validation_data"] == "held_out"`), else
    `"last"` (no validation, or validation on the test set)."""
    return "best" if metrics.get("validation_data") == "held_out" else "last"


def selection_record(metrics, checkpoint):
    """The record's `selection` entry: which checkpoint of the run is
    published and which split chose it.

    Args:
        metrics: the run's `metrics.json` dict.
        checkpoint: `"best"` or `"last"`.

    Returns:
        A dict: `checkpoint` (file name), `data` (the run's
        `validation_data`: `"held_out"`, `"test"`, `"none"`, or `None` for
        runs that predate it), `split` (what chose the checkpoint, in
        words), `monitor`, `value`, `epoch` and `epochs`.
    """
    data = metrics.get("validation_data")
    run = metrics.get("selection") or {}
    best = metrics.get("best") or {}
    epochs = metrics.get("epochs_completed")
    out = {"checkpoint": f"{checkpoint}.keras", "data": data,
           "split": None, "monitor": None, "value": None, "epoch": epochs,
           "epochs": epochs}
    legacy = not run  # trained before runs recorded their selection
    if checkpoint == "best" and data in ("held_out", "test"):
        out.update(monitor=best.get("monitor") or "val_accuracy",
                   value=best.get("value"), epoch=best.get("epoch"))
    if data is None or (data == "test" and legacy):
        out["split"] = LEGACY_SELECTION
    elif checkpoint == "best" and data == "held_out":
        out["split"] = run.get("split") or (
            f"validation ({metrics.get('validation_examples', '?')} "
            "held-out training images)")
    elif checkpoint == "best" and data == "test":
        out["split"] = run.get("split") or "test set"
    elif data == "held_out":
        out["split"] = ("none: the last epoch, asked for with --checkpoint "
                        f"last (the run selected epoch {best.get('epoch')} "
                        "on its held-out validation split)")
    elif data == "test":
        out["split"] = ("none: the last epoch (the run evaluated the test "
                        "set after every epoch; its test-selected "
                        "best.keras is not published)")
    else:
        out["split"] = "none: the last epoch (the run had no validation split)"
    return out


def evaluate(model, record, *, data_dir=None, test_subset=None,
             batch_size=256):
    """Top-1 accuracy of `model` on `record.dataset`'s test split.

    Returns:
        `(accuracy, number of examples)`.
    """
    dataset = data_lib.get_dataset_info(record.dataset)
    if dataset.source == "idx":
        images, labels = _test_images(dataset, data_dir, test_subset)
        x = preprocess_input(images, record)
        pred = np.argmax(model.predict(x, batch_size=batch_size, verbose=0),
                         axis=-1)
        return float(np.mean(pred == labels)), int(len(labels))
    # tfds datasets: the data module's evaluation pipeline normalises with
    # the dataset statistics, which is the record's preprocessing.
    splits = data_lib.make_datasets(
        dataset.name, batch_size=batch_size, data_dir=data_dir,
        test_subset=test_subset, augment=False)
    correct = total = 0.0
    for images, labels, weights in splits.test:
        pred = np.argmax(model.predict_on_batch(images), axis=-1)
        w = np.asarray(weights)
        correct += float(np.sum((pred == np.asarray(labels)) * w))
        total += float(np.sum(w))
    return correct / total, int(total)


def model_card(record):
    """The Markdown model card of a record."""
    src = record.source
    params = record.params
    metrics = record.metrics
    run_acc = run_test_accuracy(record)
    hp = record.hyperparameters or "the builder's defaults"
    lines = [
        f"# {record.name}",
        "",
        f"`{record.arch}` ({params.get('builder', record.arch)}) trained by "
        f"keras_resvariants on {record.dataset}; "
        f"{params.get('paper', '')}.",
        "",
        "```python",
        "import keras_resvariants as kr",
        f"model = kr.{params.get('builder', 'create_model')}"
        f"(weights={record.tag!r})",
        f"x = kr.preprocess_input(images, {record.name!r})",
        "```",
        "",
        "| | |",
        "|---|---|",
        f"| data | {record.dataset}: training split "
        f"({metrics.get('train_examples', '?')} images), evaluated on the "
        f"test split ({metrics.get('test_examples_remeasured', '?')} "
        "images) |",
        f"| input | {tuple(record.input_shape)}, "
        f"{record.classes} classes |",
        f"| preprocessing | `(x / {record.preprocessing.scale:g} - mean) / "
        f"std`, mean {record.preprocessing.mean}, std "
        f"{record.preprocessing.std} |",
        f"| hyperparameters | {hp} |",
        f"| recipe | `{src.get('recipe')}`: {src.get('recipe_summary', '')} "
        "|",
        f"| epochs | {src.get('epochs')} (global batch "
        f"{src.get('global_batch_size')}, seed {src.get('seed')}) |",
        f"| test accuracy (training run, metrics.json) | "
        f"{_pct(run_acc)} |",
        f"| test accuracy (re-measured, loaded by tag) | "
        f"{_pct(record.test_accuracy)} |",
        f"| parameters | {params.get('total'):,} "
        f"({params.get('trainable'):,} trainable) |",
        f"| parameters vs paper | {params.get('check', 'not checked')} |",
        f"| training time | {_train_time(src)} |",
        f"| machine | {_machine(src)} |",
        f"| backend, date | {src.get('backend')}, {src.get('date')} |",
        f"| checkpoint | {src.get('checkpoint')} of `{src.get('run_dir')}` |",
        f"| selected on | {selected_on(record)} |",
        f"| command | `{src.get('command')}` |",
        f"| published with | `{src.get('publish_command')}` |",
        "",
        "## Files",
        "",
        "| file | bytes | sha256 | fingerprint |",
        "|---|---|---|---|",
    ]
    for entry in (record.top, record.notop):
        lines.append(f"| `{entry.name}` | {entry.size:,} | `{entry.sha256}` "
                     f"| `{entry.fingerprint[:16]}…` |")
    lines += [
        "",
        "The fingerprint is a sha256 of the network's weight structure (each "
        "weighted layer's class, variable paths, shapes and dtypes, in "
        "order); loading refuses the files if the network built today has "
        "a different one. Licence: Apache-2.0, as the package.",
        "",
    ]
    return "\n".join(lines)


def selected_on(record):
    """The model card's "selected on" text of a record: the split that
    chose the published checkpoint. Records without a `selection` entry
    come from runs that evaluated the test set after every epoch by
    default."""
    selection = record.selection
    if selection is None or not selection.get("split"):
        return LEGACY_SELECTION
    text = selection["split"]
    if selection.get("monitor") and selection.get("value") is not None:
        text += (f"; epoch {selection.get('epoch')} of "
                 f"{selection.get('epochs')}, {selection['monitor']} "
                 f"{selection['value']:.4f}")
    return text


def run_test_accuracy(record):
    """The training run's test accuracy of the published checkpoint: the
    selected model's (`metrics["test"]["best"]`) when `best.keras` was
    published, else the last epoch's (`metrics["test_accuracy"]`)."""
    metrics = record.metrics or {}
    if (record.selection or {}).get("checkpoint") == runs.BEST:
        best = (metrics.get("test") or {}).get("best") or {}
        if best.get("accuracy") is not None:
            return best["accuracy"]
    return metrics.get("test_accuracy")


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _read_json(path, run_dir):
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No {os.path.basename(path)} in {run_dir!r}: is it the output "
            "directory of a finished `resvariants train` run?"
        )
    with open(path) as f:
        return json.load(f)


def _run_metrics(metrics):
    keys = ("test_accuracy", "test_loss", "test", "test_examples",
            "train_examples", "validation_data", "validation_examples",
            "validation_seed", "selection", "epochs_completed", "best",
            "wall_time_s", "train_time_s_all_runs")
    return {k: metrics[k] for k in keys if k in metrics}


def _params(model, info, hyperparameters, builder):
    counts = count_parameters(model)
    out = {
        "builder": info["builder"],
        "paper": f"{info['paper']} ({info['table']})",
        "total": counts["total"],
        "trainable": counts["trainable"],
        "paper_params": info["paper_params"],
        "spec_params": info["params"],
        "spec_classes": info["params_classes"],
    }
    defaults = info["hyperparameters"]
    if {**defaults, **hyperparameters} != defaults:
        out["check"] = (f"not compared: hyperparameters {hyperparameters} "
                        "differ from the paper's")
        return out
    if info["params"] is None:
        out["check"] = ("no expected count registered for this network; "
                        f"paper: {info['paper_params'] or 'none printed'}")
        return out
    size = info["default_input_shape"]
    reference = builder(input_shape=size, classes=info["params_classes"])
    ref = count_parameters(reference)["trainable"]
    verdict = "matches" if ref == info["params"] else "DIFFERS from"
    out["paper_config_trainable"] = ref
    out["check"] = (
        f"built at the paper's {size} input with {info['params_classes']} "
        f"classes: {ref:,} trainable, {verdict} the registry's expected "
        f"{info['params']:,}"
        + (f" (paper: {info['paper_params']})" if info["paper_params"]
           else "")
        + f"; these weights: {counts['trainable']:,} "
        f"({tuple(model.input.shape[1:])} "
        f"input, {int(model.outputs[0].shape[-1])} classes)"
    )
    return out


def _train_time(src):
    seconds = src.get("train_time_s")
    if not seconds:
        return "not recorded"
    epochs, examples = src.get("epochs"), src.get("train_examples")
    rate = (f", {epochs * examples / seconds:,.0f} train images/s"
            if epochs and examples else "")
    return f"{seconds:,.0f} s ({seconds / 3600:.2f} h{rate})"


def _machine(src):
    found = src.get("machine")
    if not found:
        return "not recorded by the run"
    return (f"{found.get('cpu')}, {found.get('cores')} cores, "
            f"{', '.join(src.get('devices') or []) or 'CPU'}")


def _source(run_dir, run_config, metrics, checkpoint, command):
    recipe = run_config.get("recipe") or {}
    return {
        "command": metrics.get("command"),
        "recipe": recipe.get("name"),
        "recipe_summary": _recipe_summary(recipe),
        "epochs": run_config.get("epochs"),
        "global_batch_size": run_config.get("global_batch_size"),
        "seed": run_config.get("seed"),
        "train_subset": run_config.get("train_subset"),
        "validation_split": run_config.get("validation_split"),
        "validation_seed": run_config.get("validation_seed"),
        "backend": metrics.get("backend"),
        "dtype_policy": metrics.get("dtype_policy"),
        "devices": metrics.get("devices"),
        "machine": metrics.get("machine"),
        "train_time_s": metrics.get("train_time_s_all_runs"),
        "train_examples": metrics.get("train_examples"),
        "date": metrics.get("finished_at"),
        "versions": metrics.get("versions"),
        "run_dir": _display_path(run_dir),
        "checkpoint": f"{checkpoint}.keras",
        "published_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "publish_command": command or " ".join(
            ["python -m keras_resvariants.publishing", *sys.argv[1:]]),
    }


def _display_path(path):
    """Relative to the repository when inside it, else absolute."""
    path = os.path.abspath(path)
    repo = os.path.dirname(loading.REPO_WEIGHTS_DIR)
    if os.path.commonpath([path, repo]) == repo:
        return os.path.relpath(path, repo)
    return path


def _recipe_summary(recipe):
    if not recipe:
        return ""
    parts = [f"{recipe.get('optimizer', 'sgd').upper()}"
             + (" (Nesterov)" if recipe.get("nesterov") else "")
             + f" momentum {recipe.get('momentum')}",
             f"lr {recipe.get('learning_rate')} {recipe.get('schedule')}",
             f"weight decay {recipe.get('weight_decay')}",
             f"augmentation {recipe.get('augmentation')}"]
    return ", ".join(parts)


def _test_images(dataset, data_dir, count):
    if dataset.source != "idx":
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (count or 64, *dataset.image_shape))
        return images.astype("uint8"), None
    _, (images, labels) = data_lib.load_fashion_mnist(data_dir)
    if count is not None:
        images, labels = images[:count], labels[:count]
    return images, labels


def _assert_equal(a, b, what):
    if not np.array_equal(np.asarray(a), np.asarray(b)):
        raise AssertionError(
            f"The {what} weights loaded by tag do not reproduce the trained "
            f"model's outputs (max abs diff "
            f"{np.max(np.abs(np.asarray(a) - np.asarray(b)))})."
        )


def _replace(record, **changes):
    import dataclasses

    return dataclasses.replace(record, **changes)


@contextlib.contextmanager
def _published_only(record, weights_dir):
    """Resolve tags from a records file holding only `record`, and files
    from `weights_dir` first (in this process, this thread)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "records.json")
        registry.write_record(record, path)
        with registry.use_records(path), loading.use_weights_dir(
                weights_dir):
            yield


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m keras_resvariants.publishing",
        description="Publish a `resvariants train` run as pretrained "
                    "weights: top and no-top .weights.h5 files, a record "
                    "with sha256 and fingerprint, and a model card.",
    )
    parser.add_argument("run_dir", help="output directory of the run")
    parser.add_argument("--tag", required=True,
                        help="weights tag, e.g. fashion_mnist")
    parser.add_argument("--output", default=None,
                        help="where to write the files and the card "
                             "(default: the repository's saved_models/)")
    parser.add_argument("--records", default=None,
                        help="records file to update (default: the "
                             "package's records.json or "
                             f"${registry.RECORDS_ENV})")
    parser.add_argument("--checkpoint", choices=CHECKPOINTS, default="auto",
                        help="auto (default): best.keras when the run "
                             "selected it on a held-out validation split, "
                             "else last.keras")
    parser.add_argument("--base-url", default=None,
                        help="URL prefix the files will be served from")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--test-subset", type=int, default=None,
                        help="evaluate on the first N test images only")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    command = "python -m keras_resvariants.publishing " + " ".join(
        sys.argv[1:] if argv is None else argv)
    record = publish(
        args.run_dir, args.tag, output=args.output, records=args.records,
        checkpoint=args.checkpoint, base_url=args.base_url,
        data_dir=args.data_dir, test_subset=args.test_subset,
        batch_size=args.batch_size, command=command,
    )
    print(f"Published {record.name}: test accuracy "
          f"{_pct(record.test_accuracy)} on "
          f"{record.metrics['test_examples_remeasured']} images "
          f"(training run: {_pct(run_test_accuracy(record))}).")
    for entry in (record.top, record.notop):
        print(f"  {entry.name}  sha256 {entry.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
