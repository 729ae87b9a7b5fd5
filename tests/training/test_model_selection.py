"""Model selection off the test set: `best.keras` is chosen on images held
out from the training split, the test set is read only after training,
and `metrics.json` says what was selected on which split."""

import dataclasses
import json
import os
import sys

import keras
import numpy as np
import pytest

import keras_resvariants  # noqa: F401  registers the layers for loading
from keras_resvariants import data
from keras_resvariants.training import train
from tests.training.tiny_net import tiny_plain_net

FM = os.path.exists("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not FM, reason="Debian's dataset-fashion-mnist is not installed")
INFO = data.DATASETS["fashion_mnist"]
SUBSET = 320  # "auto" holds out 10% of it: 32 images
TEST = 100


def _read(name, out):
    with open(os.path.join(out, name)) as f:
        return f.read()


def _log(out):
    import csv

    with open(os.path.join(out, "log.csv"), newline="") as f:
        return list(csv.DictReader(f))


def _held_out(n_val, train_subset):
    (x_all, y_all), _ = data.load_fashion_mnist()
    train_idx, val_idx = data.split_indices(
        len(x_all), validation_split=n_val, train_subset=train_subset,
        seed=data.VALIDATION_SEED)
    return (data.normalize_numpy(x_all[val_idx], INFO),
            np.asarray(y_all[val_idx]), train_idx, val_idx)


def _test_images():
    _, (x_test, y_test) = data.load_fashion_mnist()
    return (data.normalize_numpy(x_test[:TEST], INFO),
            np.asarray(y_test[:TEST]))


def _accuracy(model, x, y):
    p = keras.ops.convert_to_numpy(model(x, training=False))
    return float((p.argmax(-1) == y).mean())


class _Counted:
    """Wraps the pipelines `data.make_datasets` returns so that every batch
    read from the test split (`reads["test"]`) and from the validation
    split (`reads["validation"]`) is recorded by its index;
    `test_batches` is the number of batches of one pass over the test
    split. Keras may peek at the first batches of a `PyDataset`, so
    complete passes are counted by the reads of the last batch."""

    def __init__(self, monkeypatch):
        self.reads = {"test": [], "validation": []}
        self.test_batches = None
        original = data.make_datasets

        def make_datasets(*args, **kwargs):
            splits = original(*args, **kwargs)
            self.test_batches = (
                len(splits.test)
                if isinstance(splits.test, keras.utils.PyDataset)
                else int(splits.test.cardinality()))
            splits.test = self._wrap(splits.test, "test")
            if splits.validation is not None:
                splits.validation = self._wrap(splits.validation,
                                               "validation")
            return splits

        monkeypatch.setattr(data, "make_datasets", make_datasets)

    def passes(self, key="test"):
        return self.reads[key].count(self.test_batches - 1)

    def _wrap(self, dataset, key):
        reads = self.reads[key]
        if isinstance(dataset, keras.utils.PyDataset):
            class Counting(keras.utils.PyDataset):
                def __init__(self):
                    super().__init__(workers=1, use_multiprocessing=False)

                def __len__(self):
                    return len(dataset)

                def __getitem__(self, index):
                    reads.append(index)
                    return dataset[index]

            return Counting()
        import tensorflow as tf

        def record(index):
            reads.append(int(index))
            return np.int64(0)

        def count(index, batch):
            tick = tf.py_function(record, [index], tf.int64)
            with tf.control_dependencies([tick]):
                return tuple(tf.identity(t) for t in batch)

        return dataset.enumerate().map(count)


class _Snapshots(keras.callbacks.Callback):
    """Test-set reads seen at the end of every epoch and of training."""

    def __init__(self, reads):
        super().__init__()
        self.reads = reads
        self.at_epoch_end = []
        self.validation_at_epoch_end = []

    def on_epoch_end(self, epoch, logs=None):
        self.at_epoch_end.append(len(self.reads["test"]))
        self.validation_at_epoch_end.append(len(self.reads["validation"]))

    def on_train_end(self, logs=None):
        self.at_train_end = len(self.reads["test"])


class _Sabotage(keras.callbacks.Callback):
    """From the last batch of epoch `epoch` (0-based) on, the head predicts
    class `label` for every image, so that epoch's validation accuracy is
    that class's share of the held-out images and an earlier epoch is
    selected."""

    def __init__(self, epoch, label):
        super().__init__()
        self.epoch, self.label = epoch, label

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._current == self.epoch:
            head = self.model.get_layer("predictions")
            head.kernel.assign(np.zeros(head.kernel.shape, "float32"))
            bias = np.full(head.bias.shape, -10.0, "float32")
            bias[self.label] = 10.0
            head.bias.assign(bias)


@pytest.mark.parametrize("pipeline", ["numpy", "tf.data"])
def test_best_is_selected_on_held_out_images_and_test_read_at_the_end(
        tmp_path, monkeypatch, pipeline):
    if pipeline == "tf.data":
        pytest.importorskip("tensorflow")
        if keras.backend.backend() != "tensorflow":
            pytest.skip("the tf.data spy needs the TensorFlow backend")
    n_val = data.resolve_validation_split("fashion_mnist", "auto",
                                          train_subset=SUBSET)
    assert n_val == 32
    x_val, y_val, train_idx, val_idx = _held_out(n_val, SUBSET)
    assert len(train_idx) == SUBSET and not set(train_idx) & set(val_idx)
    rare = int(np.argmin(np.bincount(y_val, minlength=10)))
    spy = _Counted(monkeypatch)
    snapshots = _Snapshots(spy.reads)
    out = str(tmp_path / "run")
    result = train(
        tiny_plain_net, "fashion_mnist", "quick", epochs=3, batch_size=32,
        train_subset=SUBSET, test_subset=TEST, seed=3, verbose=0,
        pipeline=pipeline, output_dir=out, tensorboard=False, plot=False,
        callbacks=[_Sabotage(2, rare), snapshots],
    )
    metrics = json.loads(_read("metrics.json", out))

    # The test set is untouched until training is over, then read once
    # for each of the two models (last and selected).
    assert snapshots.at_epoch_end == [0, 0, 0]
    assert snapshots.at_train_end == 0
    assert all(b > a for a, b in zip(
        [0] + snapshots.validation_at_epoch_end,
        snapshots.validation_at_epoch_end))
    assert spy.passes("test") == 2
    assert set(spy.reads["test"]) == set(range(spy.test_batches))

    # best.keras is the epoch with the best validation accuracy in log.csv.
    val = [float(r["val_accuracy"]) for r in _log(out)]
    assert len(val) == 3 and val[2] < max(val[:2])  # the sabotage worked
    k = val.index(max(val)) + 1
    selection = metrics["selection"]
    assert selection == {
        "checkpoint": "best", "file": "best.keras",
        "monitor": "val_accuracy", "mode": "max",
        "value": pytest.approx(max(val)),
        "split": "validation (32 held-out training images, seed 0)",
        "data": "held_out", "epoch": k, "last_epoch": 3,
    }
    assert metrics["validation_data"] == "held_out"
    assert metrics["validation_seed"] == 0
    assert metrics["validation_split"] == "auto"
    assert metrics["validation_examples"] == n_val
    assert metrics["train_examples"] == SUBSET
    config = json.loads(_read("run_config.json", out))
    assert (config["validation_seed"], config["validation_split"],
            config["validation_data"]) == (0, "auto", "held_out")

    best = keras.saving.load_model(os.path.join(out, "best.keras"))
    last = keras.saving.load_model(os.path.join(out, "last.keras"))
    assert _accuracy(best, x_val, y_val) == pytest.approx(max(val),
                                                          abs=1e-6)
    assert _accuracy(last, x_val, y_val) == pytest.approx(val[2], abs=1e-6)
    for a, b in zip(last.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(a, b)

    # Test metrics: the top-level keys are the last epoch's, `test.best`
    # and `best` the selected model's.
    x_test, y_test = _test_images()
    assert metrics["test_accuracy"] == pytest.approx(
        _accuracy(last, x_test, y_test), abs=1e-6)
    best_test = _accuracy(best, x_test, y_test)
    assert metrics["test"]["best"]["epoch"] == k
    assert metrics["test"]["best"]["accuracy"] == pytest.approx(best_test,
                                                                abs=1e-6)
    assert metrics["test"]["last"]["epoch"] == 3
    assert metrics["test"]["last"]["accuracy"] == metrics["test_accuracy"]
    assert metrics["best"]["epoch"] == k
    assert metrics["best"]["test_accuracy"] == (
        metrics["test"]["best"]["accuracy"])


def test_the_hold_out_does_not_depend_on_the_training_seed():
    def held(seed, **kwargs):
        splits = data.make_datasets(
            "fashion_mnist", batch_size=16, validation_split="auto",
            train_subset=200, seed=seed, pipeline="numpy", **kwargs)
        return splits.validation_indices, splits.train_indices

    (val_a, train_a), (val_b, train_b) = held(0, validation_seed=0), held(
        5, validation_seed=0)
    np.testing.assert_array_equal(val_a, val_b)
    np.testing.assert_array_equal(train_a, train_b)
    assert len(val_a) == 20 and not set(val_a) & set(train_a)
    other, _ = held(0, validation_seed=1)
    assert not np.array_equal(other, val_a)
    # Without `validation_seed`, make_datasets draws with `seed` (the
    # tuning searches rely on it).
    legacy, _ = held(5)
    _, expected = data.split_indices(60000, validation_split=20,
                                     train_subset=200, seed=5)
    np.testing.assert_array_equal(legacy, expected)


def test_auto_validation_sizes():
    resolve = data.resolve_validation_split
    assert resolve("fashion_mnist", "auto") == 5000
    assert resolve("cifar10", "auto") == 5000
    assert resolve("cifar100", "auto") == 5000
    assert resolve("imagenet2012", "auto") == 10000
    assert resolve("fashion_mnist", "auto", train_subset=256) == 25
    assert resolve("fashion_mnist", "auto", train_subset=5) == 1
    assert resolve("fashion_mnist", "auto", train_subset=100000) == 5000
    assert resolve("cifar10", "auto", num_examples=40) == 4
    assert resolve("fashion_mnist", 0.1) == 6000
    assert resolve("fashion_mnist", 1000) == 1000
    assert resolve("fashion_mnist", 0) == 0
    with pytest.raises(ValueError, match="validation_split='half'"):
        resolve("fashion_mnist", "half")
    with pytest.raises(ValueError, match="validation_split"):
        resolve("fashion_mnist", 60000)


def test_validation_split_zero_selects_the_last_epoch(tmp_path,
                                                      monkeypatch):
    spy = _Counted(monkeypatch)
    snapshots = _Snapshots(spy.reads)
    out = str(tmp_path / "run")
    train(tiny_plain_net, "fashion_mnist", "quick", epochs=2, batch_size=32,
          train_subset=64, test_subset=TEST, validation_split=0, verbose=0,
          pipeline="numpy", output_dir=out, tensorboard=False, plot=False,
          callbacks=[snapshots])
    metrics = json.loads(_read("metrics.json", out))
    assert snapshots.at_epoch_end == [0, 0]
    assert spy.reads["validation"] == []
    assert spy.passes("test") == 1  # the last model only
    rows = _log(out)
    assert len(rows) == 2  # Keras' CSVLogger writes NA val_* columns
    assert {v for r in rows for k, v in r.items()
            if k.startswith("val_")} <= {"NA"}
    assert metrics["validation_data"] == "none"
    assert metrics["validation_examples"] == 0
    assert metrics["train_examples"] == 64
    selection = metrics["selection"]
    assert selection["checkpoint"] == "last"
    assert selection["monitor"] is None and selection["epoch"] == 2
    assert selection["split"].startswith("none (validation_split=0")
    assert metrics["best"]["epoch"] == 2
    assert metrics["test"]["best"] == metrics["test"]["last"] == {
        "epoch": 2, "accuracy": metrics["test_accuracy"],
        "loss": metrics["test_loss"]}
    # best.keras is the last epoch's model.
    best = keras.saving.load_model(os.path.join(out, "best.keras"))
    last = keras.saving.load_model(os.path.join(out, "last.keras"))
    for a, b in zip(best.get_weights(), last.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_validate_on_test_is_an_explicit_opt_in(tmp_path, monkeypatch):
    spy = _Counted(monkeypatch)
    snapshots = _Snapshots(spy.reads)
    out = str(tmp_path / "run")
    result = train(tiny_plain_net, "fashion_mnist", "quick", epochs=1,
                   batch_size=32, train_subset=64, test_subset=TEST,
                   validate_on_test=True, verbose=0, pipeline="numpy",
                   output_dir=out, tensorboard=False, plot=False,
                   callbacks=[snapshots])
    # The spy sees per-epoch test reads; the final numbers are the logged
    # ones (no second pass).
    assert snapshots.at_epoch_end[0] > 0
    assert spy.passes("test") == 1
    metrics = result.metrics
    assert metrics["validation_data"] == "test"
    assert metrics["validation_examples"] == 0  # the whole training split
    assert metrics["selection"]["split"].startswith("test set")
    assert metrics["selection"]["data"] == "test"
    rows = _log(out)
    assert float(rows[0]["val_accuracy"]) == pytest.approx(
        metrics["test_accuracy"])
    x_test, y_test = _test_images()
    best = keras.saving.load_model(os.path.join(out, "best.keras"))
    assert metrics["test"]["best"]["accuracy"] == pytest.approx(
        _accuracy(best, x_test, y_test), abs=1e-6)
    with pytest.raises(ValueError, match="validation_split=1000"):
        train(tiny_plain_net, validate_on_test=True, validation_split=1000)
    with pytest.raises(ValueError, match="validation_seed"):
        train(tiny_plain_net, validation_seed="0")
    with pytest.raises(ValueError, match="validation_split"):
        train(tiny_plain_net, validation_split="most")


def test_cli_passes_the_selection_options(monkeypatch, capsys):
    from keras_resvariants.cli import main

    module = sys.modules["keras_resvariants.training.train"]
    calls = []

    class Result:
        output_dir = "runs/x"
        metrics = {
            "test_accuracy": 0.5, "test_loss": 1.0, "test_examples": 10,
            "epochs_completed": 1, "epochs": 1,
            "params": {"trainable": 1}, "wall_time_s": 1.0,
            "selection": {"checkpoint": "best", "epoch": 1,
                          "last_epoch": 1, "monitor": "val_accuracy",
                          "value": 0.25, "split": "validation (x)"},
            "test": {"best": {"accuracy": 0.5}},
        }

    def fake_train(config):
        # The CLI hands over one `TrainConfig`.
        calls.append(dataclasses.asdict(config))
        return Result()

    monkeypatch.setattr(module, "train", fake_train)
    assert main(["train", "--output", "runs/x"]) == 0
    assert calls[-1]["validation_split"] == "auto"
    assert calls[-1]["validation_seed"] == 0
    assert calls[-1]["validate_on_test"] is False
    assert calls[-1]["weight_decay_scope"] is None
    assert "selected: epoch 1 of 1 (val_accuracy 0.2500" in (
        capsys.readouterr().out)
    assert main(["train", "--output", "runs/x", "--validation-split", "0",
                 "--validate-on-test", "--validation-seed", "4",
                 "--weight-decay-scope", "kernels"]) == 0
    assert calls[-1]["validation_split"] == 0
    assert calls[-1]["validation_seed"] == 4
    assert calls[-1]["validate_on_test"] is True
    assert calls[-1]["weight_decay_scope"] == "kernels"
    assert main(["train", "--output", "runs/x", "--validation-split",
                 "0.1", "--no-test-curves"]) == 0
    assert calls[-1]["validation_split"] == 0.1
    assert calls[-1]["validate_on_test"] is False
    with pytest.raises(SystemExit):
        main(["train", "--validation-split", "most"])
    with pytest.raises(SystemExit):
        main(["train", "--weight-decay-scope", "biases"])
