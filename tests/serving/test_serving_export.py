"""SavedModel export: layout, signatures, outputs, CLI, argument errors."""

import json
import os
import re
import shutil
import types

import keras
import numpy as np
import pytest

from keras_resvariants import cli
from keras_resvariants.preprocessing import get_preprocessing
from keras_resvariants.serving import export as export_lib
from keras_resvariants.serving import export_saved_model
from tests.serving.serving_helpers import CLASSES
from tests.serving.serving_helpers import INPUT_SHAPE
from tests.serving.serving_helpers import MODEL_NAME
from tests.serving.serving_helpers import expected_outputs

pytestmark = pytest.mark.tf_only


@pytest.fixture(scope="module")
def loaded(model_base_path):
    import tensorflow as tf

    return {n: tf.saved_model.load(os.path.join(model_base_path, str(n)))
            for n in (1, 2)}


def test_layout_and_auto_increment(model_base_path):
    # Both session exports left `version` to default: 1, then 2.
    assert sorted(os.listdir(model_base_path)) == ["1", "2"]
    for version in ("1", "2"):
        path = os.path.join(model_base_path, version)
        assert os.path.isfile(os.path.join(path, "saved_model.pb"))
        assert os.path.isdir(os.path.join(path, "variables"))
        with open(os.path.join(path, export_lib.INFO_PATH)) as f:
            info = json.load(f)
        assert info["version"] == int(version)
        assert info["name"] == MODEL_NAME
        assert info["preprocessing"] == {"mean": [0.3], "std": [0.35],
                                         "scale": 255.0}
    assert export_lib.next_version(model_base_path) == 3
    assert export_lib.next_version(os.path.join(model_base_path, "x")) == 1


def test_signature_names_dtypes_shapes(loaded):
    import tensorflow as tf

    for version in (1, 2):
        signatures = loaded[version].signatures
        assert set(signatures) == {"serving_default", "serving_float"}
        for name, dtype in (("serving_default", tf.uint8),
                            ("serving_float", tf.float32)):
            args, kwargs = signatures[name].structured_input_signature
            assert args == ()
            assert list(kwargs) == ["image"]
            assert kwargs["image"].dtype == dtype
            assert kwargs["image"].shape.as_list() == [None, *INPUT_SHAPE]
            outputs = signatures[name].structured_outputs
            assert set(outputs) == {"probabilities", "class_id"}
            assert outputs["probabilities"].dtype == tf.float32
            assert outputs["probabilities"].shape.as_list() == [None,
                                                                CLASSES]
            assert outputs["class_id"].dtype == tf.int64
            assert outputs["class_id"].shape.as_list() == [None]


@pytest.mark.parametrize("version", [1, 2], ids=["softmax", "logits"])
def test_reloaded_outputs_equal_keras(loaded, models, images, prep, version):
    import tensorflow as tf

    x_float = prep.numpy(images)
    probabilities, class_id = expected_outputs(models[version], x_float)
    signatures = loaded[version].signatures

    out = signatures["serving_float"](image=tf.constant(x_float))
    np.testing.assert_allclose(out["probabilities"].numpy(), probabilities,
                               rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out["class_id"].numpy(), class_id)

    # Raw pixels, preprocessing in the graph vs NumPy preprocessing.
    out = signatures["serving_default"](image=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"].numpy(), probabilities,
                               rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out["class_id"].numpy(), class_id)
    # The logits model got a softmax: rows are distributions either way.
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0,
                               atol=1e-5)


def test_existing_version_is_never_overwritten(models, export_root, prep):
    with pytest.raises(FileExistsError, match="Version 1 of model 'tiny'"):
        export_saved_model(models[1], export_root, name=MODEL_NAME,
                           version=1, preprocessing=prep)


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "a/b"}, "`name` must be a model name"),
    ({"name": ""}, "`name` must be a model name"),
    ({"version": 0}, "`version` must be an integer >= 1"),
    ({"version": "3"}, "`version` must be an integer >= 1"),
    ({"classifier_activation": "relu"}, "`classifier_activation` must be"),
    ({"preprocessing": "mnist"}, "`preprocessing` must be a Preprocessing"),
    ({"preprocessing": {"mean": [0.1, 0.2, 0.3], "std": [1, 1, 1]}},
     "one mean/std per input channel"),
])
def test_invalid_arguments(models, tmp_path, prep, kwargs, match):
    kwargs = {"preprocessing": prep, **kwargs}
    with pytest.raises(ValueError, match=match):
        export_saved_model(models[1], str(tmp_path), **kwargs)
    assert os.listdir(tmp_path) == []  # checked before anything is written


def test_missing_preprocessing_asks_for_dataset(models, tmp_path):
    with pytest.raises(ValueError, match="--dataset NAME"):
        export_saved_model(models[1], str(tmp_path))


def test_preprocessing_from_run_config(tmp_path):
    with open(tmp_path / "run_config.json", "w") as f:
        json.dump({"dataset": "fashion_mnist"}, f)
    assert export_lib.resolve_preprocessing(run_dir=str(tmp_path)) == \
        get_preprocessing("fashion_mnist")
    # The explicit argument wins.
    assert export_lib.resolve_preprocessing(
        "cifar10", run_dir=str(tmp_path)) == get_preprocessing("cifar10")


def test_preprocessing_from_a_weights_record(monkeypatch):
    from keras_resvariants.weights import registry

    record = types.SimpleNamespace(
        name="resnet_20.fake", preprocessing=get_preprocessing("cifar10"))
    monkeypatch.setattr(
        registry, "find_record",
        lambda arch, weights: record if (arch, weights) == (
            "resnet_20", "fake") else None)
    assert export_lib.resolve_preprocessing(
        arch="resnet_20", weights="fake") == get_preprocessing("cifar10")
    # A run's dataset comes before the record, an explicit value first.
    with pytest.raises(ValueError, match="--dataset NAME"):
        export_lib.resolve_preprocessing(arch="resnet_20", weights="other")
    assert export_lib.resolve_preprocessing(
        "fashion_mnist", arch="resnet_20", weights="fake") == \
        get_preprocessing("fashion_mnist")


def test_model_must_be_a_classifier(tmp_path, prep):
    x = keras.Input(INPUT_SHAPE)
    features = keras.Model(x, keras.layers.Conv2D(2, 3)(x))
    with pytest.raises(ValueError, match=r"class scores `\(batch, classes\)`"):
        export_saved_model(features, str(tmp_path), preprocessing=prep)
    sigmoid = keras.Model(x, keras.layers.Dense(3, activation="sigmoid")(
        keras.layers.Flatten()(x)))
    with pytest.raises(ValueError, match="activation='sigmoid'"):
        export_saved_model(sigmoid, str(tmp_path), preprocessing=prep)
    with pytest.raises(ValueError, match="`model` must be a keras.Model"):
        export_saved_model("model.keras", str(tmp_path), preprocessing=prep)


def test_other_backends_get_a_clear_error(models, tmp_path, prep,
                                          monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match="needs the TensorFlow backend"):
        export_saved_model(models[1], str(tmp_path), preprocessing=prep)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, models):
    """A training run directory as `resvariants train` leaves it."""
    path = tmp_path_factory.mktemp("run")
    models[1].save(str(path / "best.keras"))
    with open(path / "run_config.json", "w") as f:
        json.dump({"dataset": "fashion_mnist", "model": "resnet_20",
                   "model_kwargs": {}}, f)
    return str(path)


def test_cli_exports_a_training_run(run_dir, tmp_path, models, images):
    import tensorflow as tf

    out = str(tmp_path / "exported")
    assert cli.main(["export", "--model", run_dir, "--output", out,
                     "--version", "5"]) == 0
    path = os.path.join(out, "tiny_softmax", "5")
    with open(os.path.join(path, export_lib.INFO_PATH)) as f:
        info = json.load(f)
    fashion = get_preprocessing("fashion_mnist")
    assert info["preprocessing"] == fashion.to_config()
    assert info["metadata"]["source"]["run_dataset"] == "fashion_mnist"

    signature = tf.saved_model.load(path).signatures["serving_default"]
    out_uint8 = signature(image=tf.constant(images))
    probabilities, class_id = expected_outputs(models[1],
                                               fashion.numpy(images))
    np.testing.assert_allclose(out_uint8["probabilities"].numpy(),
                               probabilities, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out_uint8["class_id"].numpy(), class_id)
    assert export_lib.next_version(os.path.join(out, "tiny_softmax")) == 6


def test_registry_name_is_built_for_the_dataset():
    model, prep, source = export_lib.load_model_for_export(
        "resnet_20", dataset="fashion_mnist")
    assert tuple(model.inputs[0].shape) == (None, 28, 28, 1)
    assert tuple(model.outputs[0].shape) == (None, 10)
    assert prep == get_preprocessing("fashion_mnist")
    assert source == {"registry_name": "resnet_20", "weights": None}


def test_cli_argument_errors(run_dir, tmp_path, capsys):
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(os.path.join(run_dir, "best.keras"), lone / "m.keras")
    out = str(tmp_path / "exported")

    def fails(argv, match):
        # One line naming the problem, exit status 2 (no traceback).
        assert cli.main(["export", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("resvariants export: error: "), err
        assert "\n" not in err and re.search(match, err), err

    # A bare .keras file does not say how it was preprocessed.
    fails(["--model", str(lone / "m.keras"), "--output", out],
          "--dataset NAME")
    fails(["--model", str(lone / "m.keras"), "--output", out,
           "--dataset", "cifar10"], "one mean/std per input channel")
    fails(["--model", run_dir, "--output", out, "--weights",
           "x.weights.h5"], "`weights` applies to a registry")
    fails(["--model", "no_such_model", "--output", out],
          "`model` must be a .keras file")
    fails(["--model", run_dir, "--output", out, "--dataset", "mnist"],
          "`dataset` must be one of")
    assert not os.path.exists(out)
