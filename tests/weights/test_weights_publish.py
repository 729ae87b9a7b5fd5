"""The publish tool: run directory -> files, record, model card."""

import json
import os

import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants.weights import publish
from keras_resvariants.weights import registry
from tests.weights.weights_helpers import ARCH
from tests.weights.weights_helpers import HPARAMS
from tests.weights.weights_helpers import NAME
from tests.weights.weights_helpers import TAG


def test_publish_writes_files_record_and_card(published):
    record = published.record
    with open(published.records) as f:
        stored = json.load(f)
    assert list(stored["records"]) == [NAME]
    assert registry.WeightsRecord.from_config(
        stored["records"][NAME]) == record
    # Hyperparameters: the run's model_kwargs; the recipe's `dropout` is
    # dropped because ResNetCifar does not take it.
    assert record.hyperparameters == HPARAMS
    assert record.top.name == f"{NAME}.weights.h5"
    assert record.notop.name == f"{NAME}.notop.weights.h5"
    assert record.top.fingerprint != record.notop.fingerprint
    assert record.source["epochs"] == 1
    assert record.source["recipe"] == "quick"
    assert record.source["checkpoint"] == "last.keras"
    assert record.source["command"].startswith("resvariants train")
    assert record.metrics["test_accuracy"] == 0.125  # the run's own number
    card = open(os.path.join(published.weights_dir, f"{NAME}.md")).read()
    for text in (record.top.sha256, record.notop.sha256, "re-measured",
                 "12.50%", f"{100 * record.test_accuracy:.2f}%",
                 "parameters vs paper", "fashion_mnist"):
        assert text in card, text


def test_publish_remeasures_accuracy_on_the_test_split(published):
    """Independent check: the source model, NumPy preprocessing, argmax."""
    import keras

    source = keras.saving.load_model(
        os.path.join(published.run_dir, "last.keras"), compile=False)
    x = (published.test_images.astype("float32") / np.float32(255)
         - np.float32(0.2860)) / np.float32(0.3530)
    pred = np.argmax(keras.ops.convert_to_numpy(source(x, training=False)),
                     axis=-1)
    expected = float(np.mean(pred == published.test_labels))
    assert published.record.test_accuracy == pytest.approx(expected)
    assert published.record.metrics["test_examples_remeasured"] == len(
        published.test_labels)


def test_parameter_check_against_the_spec():
    info = kr.model_info("resnet_20")
    model = kr.ResNet20(input_shape=(28, 28, 1), classes=10)
    params = publish._params(model, info, {}, kr.ResNet20)
    assert "matches the spec's 272,474" in params["check"]
    assert params["paper_config_trainable"] == 272_474
    other = publish._params(model, kr.model_info(ARCH), HPARAMS,
                            kr.ResNetCifar)
    assert other["check"].startswith("not compared")


def test_publish_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="run_config.json"):
        publish.publish(str(tmp_path), TAG, output=str(tmp_path / "o"),
                        records=str(tmp_path / "r.json"))
    with pytest.raises(ValueError, match="`tag`"):
        publish.publish(str(tmp_path), "bad tag", output=str(tmp_path))
    with pytest.raises(ValueError, match="`checkpoint`"):
        publish.publish(str(tmp_path), TAG, checkpoint="middle")


def test_write_record_replaces_and_keeps_others(published, tmp_path):
    import dataclasses

    path = str(tmp_path / "records.json")
    registry.write_record(published.record, path)
    other = dataclasses.replace(published.record, tag="other")
    registry.write_record(other, path)
    updated = dataclasses.replace(published.record, test_accuracy=0.5)
    registry.write_record(updated, path)
    records = registry._parse(path)
    assert sorted(records) == [NAME, f"{ARCH}.other"]
    assert records[NAME].test_accuracy == 0.5
