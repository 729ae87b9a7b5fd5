"""The publish tool: run directory -> files, record, model card."""

import json
import os

import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants import publishing as publish
from keras_resvariants.weights import registry
from tests.weights.weights_helpers import ARCH
from tests.weights.weights_helpers import HPARAMS
from tests.weights.weights_helpers import NAME
from tests.weights.weights_helpers import TAG
from tests.weights.weights_helpers import make_run
from tests.weights.weights_helpers import randomize


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
    # The fabricated run predates held-out selection (its metrics.json has
    # no `validation_data`): the last epoch is published, and the card
    # says the run's selection saw the test set.
    assert record.source["checkpoint"] == "last.keras"
    assert record.selection["checkpoint"] == "last.keras"
    assert record.selection["split"] == publish.LEGACY_SELECTION
    assert record.source["command"].startswith("resvariants train")
    assert record.metrics["test_accuracy"] == 0.125  # the run's own number
    card = open(os.path.join(published.weights_dir, f"{NAME}.md")).read()
    for text in (record.top.sha256, record.notop.sha256, "re-measured",
                 "12.50%", f"{100 * record.test_accuracy:.2f}%",
                 "parameters vs paper", "fashion_mnist",
                 "| selected on | test set (legacy default: no held-out "
                 "split) |"):
        assert text in card, text


def test_publish_takes_the_checkpoint_selected_on_validation(published,
                                                             tmp_path):
    """A run that held out a validation split: `best.keras` (here another
    model than `last.keras`) is published, and the record and the card
    say which split and epoch chose it."""
    import keras

    run_dir = str(tmp_path / "run")
    make_run(run_dir)
    selected = keras.saving.load_model(os.path.join(run_dir, "last.keras"),
                                       compile=False)
    randomize(selected, seed=1)
    selected.save(os.path.join(run_dir, "best.keras"))
    path = os.path.join(run_dir, "metrics.json")
    with open(path) as f:
        metrics = json.load(f)
    split = "validation (5000 held-out training images, seed 0)"
    metrics.update(
        validation_data="held_out", validation_examples=5000,
        validation_seed=0, epochs_completed=3,
        best={"monitor": "val_accuracy", "value": 0.5, "epoch": 2,
              "test_accuracy": 0.25, "test_loss": 2.0},
        test={"last": {"epoch": 3, "accuracy": 0.125, "loss": 2.3},
              "best": {"epoch": 2, "accuracy": 0.25, "loss": 2.0}},
        selection={"checkpoint": "best", "file": "best.keras",
                   "monitor": "val_accuracy", "mode": "max", "value": 0.5,
                   "split": split, "data": "held_out", "epoch": 2,
                   "last_epoch": 3})
    with open(path, "w") as f:
        json.dump(metrics, f)
    out = str(tmp_path / "weights")
    record = publish.publish(run_dir, TAG, output=out,
                             records=str(tmp_path / "records.json"),
                             data_dir=published.data_dir,
                             command="publish (test)")
    assert record.source["checkpoint"] == "best.keras"
    assert record.selection == {
        "checkpoint": "best.keras", "data": "held_out", "split": split,
        "monitor": "val_accuracy", "value": 0.5, "epoch": 2, "epochs": 3}
    x = published.x
    loaded = kr.create_model(ARCH, input_shape=(28, 28, 1), classes=10,
                             **HPARAMS)
    loaded.load_weights(os.path.join(out, record.top.name))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(selected(x, training=False)))
    stored = registry._parse(str(tmp_path / "records.json"))[NAME]
    assert stored.selection == record.selection
    card = open(os.path.join(out, f"{NAME}.md")).read()
    assert (f"| selected on | {split}; epoch 2 of 3, val_accuracy 0.5000 |"
            in card)
    # The training run's test accuracy of the published (selected) model.
    assert "| test accuracy (training run, metrics.json) | 25.00% |" in card


def test_selection_entry_for_each_kind_of_run():
    held = {"validation_data": "held_out", "epochs_completed": 3,
            "best": {"monitor": "val_accuracy", "value": 0.5, "epoch": 2},
            "selection": {"split": "validation (9 held-out training "
                                   "images, seed 0)"}}
    assert publish.selected_checkpoint(held) == "best"
    last = publish.selection_record(held, "last")
    assert last["checkpoint"] == "last.keras" and last["epoch"] == 3
    assert last["split"].startswith("none: the last epoch, asked for")
    none = {"validation_data": "none", "epochs_completed": 2,
            "selection": {"split": "none (validation_split=0)"}}
    assert publish.selected_checkpoint(none) == "last"
    assert publish.selection_record(none, "last")["split"] == (
        "none: the last epoch (the run had no validation split)")
    # Runs that evaluated the test set every epoch: never "best" by
    # default; those from before `selection` existed are labelled legacy.
    legacy = {"validation_data": "test", "epochs_completed": 2,
              "best": {"monitor": "val_accuracy", "value": 0.9,
                       "epoch": 1}}
    assert publish.selected_checkpoint(legacy) == "last"
    for checkpoint in ("last", "best"):
        assert publish.selection_record(legacy, checkpoint)["split"] == (
            publish.LEGACY_SELECTION)
    opted_in = dict(legacy, selection={"split": "test set (validate_on_"
                                                "test=True: ...)"})
    assert publish.selection_record(opted_in, "best")["split"].startswith(
        "test set (validate_on_test=True")
    assert publish.selection_record({}, "last")["split"] == (
        publish.LEGACY_SELECTION)


def test_records_with_and_without_selection_load(published):
    import dataclasses

    config = published.record.to_config()
    del config["selection"]
    old = registry.WeightsRecord.from_config(config)
    assert old.selection is None
    assert publish.selected_on(old) == publish.LEGACY_SELECTION
    assert "| selected on | test set (legacy default: no held-out split) |" \
        in publish.model_card(old)
    chosen = {"checkpoint": "best.keras", "data": "held_out",
              "split": "validation (5000 held-out training images, seed "
                       "0)", "monitor": "val_accuracy", "value": 0.9,
              "epoch": 4, "epochs": 5}
    new = dataclasses.replace(old, selection=chosen)
    assert registry.WeightsRecord.from_config(new.to_config()) == new
    assert publish.selected_on(new) == (
        "validation (5000 held-out training images, seed 0); epoch 4 of 5, "
        "val_accuracy 0.9000")


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
    assert "matches the registry's expected 272,474" in params["check"]
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
    with pytest.raises(FileNotFoundError, match="best.keras"):
        make_run(str(tmp_path / "run"))
        publish.publish(str(tmp_path / "run"), TAG, checkpoint="best",
                        output=str(tmp_path / "o"),
                        records=str(tmp_path / "r.json"))


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
