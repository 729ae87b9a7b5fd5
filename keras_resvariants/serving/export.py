"""SavedModel export in TensorFlow Serving's layout.

`export_saved_model` writes `OUTPUT/NAME/VERSION/` (a SavedModel that
`tensorflow_model_server --model_base_path=OUTPUT/NAME` or our own
`resvariants serve` loads) through `keras.export.ExportArchive`, never
`tf.saved_model.save(model)`, which loses input names and dtypes
(keras#19458). Two signatures:

* `serving_default`: `image`, `uint8 [batch, H, W, C]` raw pixels. The
  preprocessing the weights were trained with runs inside the graph, so
  clients send pixels and need no knowledge of the normalisation.
* `serving_float`: `image`, `float32 [batch, H, W, C]`, already
  preprocessed (what `keras_resvariants.preprocess_input` returns).

Both return `probabilities` (`float32 [batch, classes]`; a softmax is added
when the classifier outputs logits) and `class_id` (`int64 [batch]`, the
argmax). Export needs the TensorFlow backend.
"""

import json
import os
import re
import shutil
import tempfile

import keras

from keras_resvariants import _validation as v
from keras_resvariants import preprocessing as prep_lib
from keras_resvariants.runs import RunDir

DEFAULT_SIGNATURE = "serving_default"
FLOAT_SIGNATURE = "serving_float"
INPUT_NAME = "image"
OUTPUT_NAMES = ("probabilities", "class_id")
# Written next to saved_model.pb; `assets.extra` is the directory TF Serving
# sets aside for files that are not part of the SavedModel proper.
INFO_PATH = os.path.join("assets.extra", "keras_resvariants.json")

CLASSIFIER_ACTIVATIONS = ("auto", "softmax", "linear")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")
_LINEAR = (None, "linear")


def check_tensorflow_backend(what="SavedModel export"):
    """Raises `RuntimeError` unless Keras runs on TensorFlow."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"{what} needs the TensorFlow backend; Keras is running on "
            f"{backend!r}. Set KERAS_BACKEND=tensorflow (weights and .keras "
            "files are backend-independent: save the model as .keras here "
            "and export it from a TensorFlow-backend process)."
        )


def next_version(model_dir):
    """The version TF Serving would see as newest after an export to
    `model_dir`: the highest existing numeric subdirectory + 1, or 1."""
    versions = list_versions(model_dir)
    return max(versions) + 1 if versions else 1


def list_versions(model_dir):
    """Sorted integer versions (numeric subdirectories) of `model_dir`."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(entry) for entry in os.listdir(model_dir)
        if entry.isdigit() and os.path.isdir(os.path.join(model_dir, entry))
    )


def resolve_preprocessing(preprocessing=None, *, run_dir=None, arch=None,
                          weights=None):
    """The `Preprocessing` to bake into an export.

    In order: `preprocessing` itself (a `Preprocessing`, its config, a
    dataset name or the name of published weights), the dataset of a
    training run (`run_dir`'s `run_config.json`), the record of the
    published weights `weights` of registry model `arch`. Anything else is
    a `ValueError`: an export with a guessed normalisation gives a server
    that answers confidently and wrongly.
    """
    if preprocessing is not None:
        return prep_lib.get_preprocessing(preprocessing)
    if run_dir is not None:
        dataset = read_run_config(run_dir).get("dataset")
        if dataset is not None:
            return prep_lib.get_preprocessing(dataset)
    record = weights_record(arch, weights)
    if record is not None:
        return record.preprocessing
    from keras_resvariants import data

    raise ValueError(
        "Cannot tell which preprocessing the model was trained with (no "
        "training run directory and no published-weights record). Pass "
        "`preprocessing` (a Preprocessing, its config, the name of "
        "published weights or one of the dataset names "
        f"{tuple(data.DATASETS)}; `--dataset NAME` on the command line). "
        f"Received: preprocessing={preprocessing!r}"
    )


def read_run_config(run_dir):
    """`run_dir/run_config.json` as a dict (empty if there is none)."""
    path = os.path.join(run_dir, "run_config.json")
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def weights_record(arch, weights):
    """The published-weights record `weights` (a tag or `"arch.tag"`)
    names for registry model `arch`, or `None` (no such record, a file
    path, or no weights registry installed)."""
    if arch is None or weights is None:
        return None
    try:
        from keras_resvariants.weights import registry
    except ImportError:
        return None
    try:
        return registry.find_record(arch, weights)
    except (FileNotFoundError, ValueError):
        return None


def detect_classifier_activation(model):
    """`"softmax"` or `"linear"`: what the model's final layer outputs.

    Reads the `activation` of the layer producing the model's output (the
    `predictions` Dense or Activation layer of our builders).
    """
    layer = model.layers[-1] if model.layers else None
    config = layer.get_config() if layer is not None else {}
    activation = config.get("activation", "missing")
    if isinstance(activation, dict):  # a serialized activation object
        activation = activation.get("config", {}).get("name",
                                                      activation.get(
                                                          "class_name"))
    if activation in _LINEAR:
        return "linear"
    if activation == "softmax":
        return "softmax"
    raise ValueError(
        "Cannot tell whether the model outputs probabilities or logits: its "
        f"final layer {getattr(layer, 'name', None)!r} has "
        f"activation={activation!r}. Pass `classifier_activation` "
        "('softmax' if the outputs are probabilities, 'linear' if they are "
        "logits)."
    )


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise ValueError(
            "`model` must be a keras.Model. Received: "
            f"model={type(model).__name__}"
        )
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            "`model` must have one image input and one classifier output. "
            f"Received: model with {len(model.inputs)} inputs and "
            f"{len(model.outputs)} outputs"
        )
    in_shape = tuple(model.inputs[0].shape)
    out_shape = tuple(model.outputs[0].shape)
    if len(in_shape) != 4 or len(out_shape) != 2 or out_shape[-1] is None:
        raise ValueError(
            "`model` must map images `(batch, height, width, channels)` to "
            "class scores `(batch, classes)` (build it with "
            "include_top=True). Received: input shape "
            f"{in_shape}, output shape {out_shape}"
        )
    if in_shape[-1] is None:
        raise ValueError(
            "`model` must have a known channel count (channels last). "
            f"Received: input shape {in_shape}"
        )
    return in_shape, out_shape


def export_saved_model(model, output_dir, *, name=None, version=None,
                       preprocessing=None, classifier_activation="auto",
                       metadata=None):
    """Exports a classifier as `output_dir/name/version/` for TF Serving.

    Args:
        model: a `keras.Model` from images `(batch, H, W, C)` (channels
            last) to class scores `(batch, classes)`.
        output_dir: the directory holding one subdirectory per model name
            (TF Serving's `--model_base_path` is `output_dir/name`).
        name: model name (the `NAME` of `/v1/models/NAME`): letters,
            digits, `_`, `.`, `-`. Defaults to `model.name`.
        version: positive int. Defaults to the highest existing version +
            1, or 1. An existing version is never overwritten.
        preprocessing: what turns raw pixels into model inputs (required):
            a `keras_resvariants.Preprocessing`, its config, a dataset name
            (`"fashion_mnist"`) or the name of the published weights the
            model was built from (`"resnet_20.fashion_mnist"`).
        classifier_activation: `"auto"` (read the final layer's
            activation), `"softmax"` (outputs are probabilities) or
            `"linear"` (logits; a softmax is added). Defaults to `"auto"`.
        metadata: optional JSON-serialisable dict stored with the export
            info (e.g. where the model came from).

    Returns:
        The path of the written version directory.

    Raises:
        RuntimeError: on a backend other than TensorFlow.
        ValueError: for any invalid argument; the message names it.
        FileExistsError: if `version` already exists.
    """
    check_tensorflow_backend()
    import tensorflow as tf

    in_shape, out_shape = _check_model(model)
    name = model.name if name is None else name
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            "`name` must be a model name made of letters, digits, '_', '.' "
            "and '-' (it becomes the NAME of /v1/models/NAME). Received: "
            f"name={name!r}"
        )
    v.check_choice("classifier_activation", classifier_activation,
                   CLASSIFIER_ACTIVATIONS)
    if classifier_activation == "auto":
        classifier_activation = detect_classifier_activation(model)
    prep = resolve_preprocessing(preprocessing)
    channels = in_shape[-1]
    if prep.channels != channels:
        raise ValueError(
            "`preprocessing` must have one mean/std per input channel: the "
            f"model takes {channels} channel(s). Received: "
            f"preprocessing={prep!r}"
        )

    model_dir = os.path.join(os.fspath(output_dir), name)
    if version is None:
        version = next_version(model_dir)
    version = v.check_positive_int("version", version)
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(
            f"Version {version} of model {name!r} already exists: {final}. "
            "Pass another `version` (or none: the next free one is "
            f"{next_version(model_dir)})."
        )

    logits = classifier_activation == "linear"

    def outputs(scores):
        scores = tf.cast(scores, tf.float32)
        probabilities = tf.nn.softmax(scores, axis=-1) if logits else scores
        # argmax of the raw scores: for logits this is the model's own
        # decision even where two softmax values round to the same float32.
        class_id = tf.argmax(scores, axis=-1, output_type=tf.int64)
        return {"probabilities": probabilities, "class_id": class_id}

    def serve_uint8(image):
        return outputs(model(prep(image), training=False))

    def serve_float(image):
        return outputs(model(image, training=False))

    spatial = list(in_shape[1:])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=DEFAULT_SIGNATURE, fn=serve_uint8,
        input_signature=[tf.TensorSpec([None] + spatial, tf.uint8,
                                       name=INPUT_NAME)],
    )
    archive.add_endpoint(
        name=FLOAT_SIGNATURE, fn=serve_float,
        input_signature=[tf.TensorSpec([None] + spatial, tf.float32,
                                       name=INPUT_NAME)],
    )

    os.makedirs(model_dir, exist_ok=True)
    # Written beside the final directory under a non-numeric name (which TF
    # Serving's version scan ignores), then renamed: a server polling
    # `model_dir` never sees a half-written version.
    staging = tempfile.mkdtemp(prefix=f".export-{version}-", dir=model_dir)
    try:
        archive.write_out(staging, verbose=False)
        info = {
            "name": name,
            "version": version,
            "model": model.name,
            "input_shape": [None] + spatial,
            "classes": int(out_shape[-1]),
            "classifier_activation": classifier_activation,
            "preprocessing": prep.to_config(),
            "signatures": {
                DEFAULT_SIGNATURE: "uint8 pixels, preprocessing in graph",
                FLOAT_SIGNATURE: "float32, already preprocessed",
            },
            "outputs": list(OUTPUT_NAMES),
            "keras_version": keras.__version__,
            "tensorflow_version": tf.__version__,
            "metadata": metadata or {},
        }
        os.makedirs(os.path.join(staging, "assets.extra"), exist_ok=True)
        with open(os.path.join(staging, INFO_PATH), "w") as f:
            json.dump(info, f, indent=2, sort_keys=True)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def load_model_for_export(model, *, weights=None, dataset=None):
    """Resolves the `resvariants export --model` argument.

    Args:
        model: a `.keras` file, a training run directory (its `best.keras`,
            else `last.keras`; `last.keras` first when its `metrics.json`
            says the run had no held-out validation split) or a registry
            name (built with `create_model(model, weights=weights)`, at
            the dataset's input shape and class count when `dataset` is
            given).
        weights: for a registry name: `None`, a registered weights tag or a
            `.weights.h5` path.
        dataset: dataset name whose preprocessing the export bakes in;
            defaults to the training run's dataset.

    Returns:
        `(keras_model, preprocessing, source)`: `preprocessing` is a
        `Preprocessing` or `None` (unknown), `source` a dict describing
        where the model came from.
    """
    import keras_resvariants  # noqa: F401  (registers the custom layers)
    from keras_resvariants import data
    from keras_resvariants import models

    if dataset is not None:
        v.check_choice("dataset", dataset, tuple(data.DATASETS))
    path = os.fspath(model)
    if os.path.isdir(path):
        if weights is not None:
            raise ValueError(_weights_with_file_message(weights, path))
        # The checkpoint selected on a held-out split: best.keras, unless
        # the run's metrics.json says it had none (then best.keras, if
        # any, was chosen on the test set), when last.keras comes first.
        run = RunDir(path)
        metrics = run.read_metrics() or {}
        held_out = metrics.get("validation_data") in ("held_out", None)
        candidates = [run.best, run.last] if held_out else [run.last,
                                                            run.best]
        found = [c for c in candidates if os.path.isfile(c)]
        if not found:
            raise ValueError(
                "`model` is a directory but not a training run: it has no "
                f"best.keras or last.keras. Received: model={path!r}"
            )
        run_dir, file = path, found[0]
    elif path.endswith(".keras"):
        if not os.path.isfile(path):
            raise ValueError(
                f"`model` file does not exist. Received: model={path!r}"
            )
        if weights is not None:
            raise ValueError(_weights_with_file_message(weights, path))
        run_dir, file = os.path.dirname(os.path.abspath(path)), path
    else:
        try:
            arch = models.model_info(path)["key"]
        except ValueError:
            raise ValueError(
                "`model` must be a .keras file, a training run directory or "
                "a registered model name (keras_resvariants.list_models()). "
                f"Received: model={path!r}"
            ) from None
        record = weights_record(arch, weights)
        kwargs = {}
        if dataset is not None and record is None:
            info = data.DATASETS[dataset]
            kwargs = {"input_shape": info.image_shape,
                      "classes": info.num_classes}
        # With a weights tag the builder takes the weights' input shape,
        # classes and hyperparameters.
        built = models.create_model(arch, weights=weights, **kwargs)
        prep = None
        if dataset is not None:
            prep = prep_lib.get_preprocessing(dataset)
        elif record is not None:
            prep = record.preprocessing
        source = {"registry_name": arch, "weights": weights}
        if record is not None:
            source["weights"] = record.name
        return built, prep, source

    loaded = keras.saving.load_model(file, compile=False)
    config = read_run_config(run_dir)
    dataset = dataset or config.get("dataset")
    prep = prep_lib.get_preprocessing(dataset) if dataset else None
    source = {"file": os.path.abspath(file)}
    if config:
        source["run_dir"] = os.path.abspath(run_dir)
        source["run_dataset"] = config.get("dataset")
    return loaded, prep, source


def _weights_with_file_message(weights, path):
    return (
        "`weights` applies to a registry model name only; a .keras file or "
        f"training run already holds its weights. Received: weights="
        f"{weights!r} with model={path!r}"
    )
