"""`train()` and `resvariants train` end to end: outputs, exact test
metrics, kill-and-resume, settings checks."""

import csv
import json
import math
import os
import sys

import keras
import numpy as np
import pytest

import keras_resvariants  # noqa: F401  registers the layers for loading
from keras_resvariants import data
from keras_resvariants.models import model_info
from keras_resvariants.training import train
from tests.training.subprocesses import describe
from tests.training.subprocesses import run_script
from tests.training.tiny_net import tiny_plain_net

FM = os.path.exists("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not FM, reason="Debian's dataset-fashion-mnist is not installed")
INFO = data.DATASETS["fashion_mnist"]


def _test_images(n):
    _, (x_test, y_test) = data.load_fashion_mnist()
    return data.normalize_numpy(x_test[:n], INFO), np.asarray(y_test[:n])


def _numpy_metrics(model, n):
    """Accuracy and cross-entropy of `model` on the first `n` test images,
    computed in NumPy from `predict`. Two cross-entropies: Keras computes it
    from the softmax's logits on TensorFlow and from probabilities clipped
    to [1e-7, 1 - 1e-7] on JAX."""
    x, y = _test_images(n)
    p = np.asarray(model.predict(x, batch_size=64, verbose=0), np.float64)
    accuracy = float((p.argmax(-1) == y).mean())
    true = p[np.arange(n), y]
    exact = float(-np.log(np.maximum(true, 1e-300)).mean())
    clipped = float(-np.log(np.clip(true, 1e-7, 1 - 1e-7)).mean())
    return accuracy, (exact, clipped)


def _held_out(n_val, train_subset, seed=0):
    """The held-out validation images `train()` draws (normalised), their
    labels, and the training indices."""
    (x_all, y_all), _ = data.load_fashion_mnist()
    train_idx, val_idx = data.split_indices(
        len(x_all), validation_split=n_val, train_subset=train_subset,
        seed=seed)
    x = data.normalize_numpy(x_all[val_idx], INFO)
    return x, np.asarray(y_all[val_idx]), train_idx, val_idx


def _accuracy(model, x, y):
    p = np.asarray(model.predict(x, batch_size=64, verbose=0))
    return float((p.argmax(-1) == y).mean())


def _assert_cross_entropy(value, references):
    assert any(value == pytest.approx(r, rel=1e-4) for r in references), (
        value, references)


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


CLI = """
import sys
from keras_resvariants.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cli_end_to_end_writes_every_output(tmp_path):
    out = os.path.join(str(tmp_path), "run")
    result = run_script(
        CLI, "train", "--model", "resnet_20", "--dataset", "fashion_mnist",
        "--recipe", "quick", "--epochs", "1", "--batch-size", "64",
        "--train-subset", "256", "--test-subset", "200", "--output", out,
        "--verbose", "2", backend=keras.backend.backend(),
    )
    assert result.returncode == 0, describe(result)
    line = [x for x in result.stdout.splitlines()
            if x.startswith("test accuracy: ")]
    assert line, describe(result)
    printed = float(line[-1].split()[2])

    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["test_accuracy"] == pytest.approx(printed, abs=5e-5)
    assert metrics["test_examples"] == 200
    assert metrics["train_examples"] == 256
    assert metrics["epochs"] == metrics["epochs_completed"] == 1
    assert metrics["recipe"]["name"] == "quick"
    assert metrics["backend"] == keras.backend.backend()
    assert metrics["devices"] and metrics["wall_time_s"] > 0
    assert "--train-subset 256" in metrics["command"]
    assert metrics["weight_decay"]["l2_coefficient"] == pytest.approx(
        metrics["recipe"]["weight_decay"] / 2)
    # ResNet-20's registry count is for 3-channel input; Fashion-MNIST has
    # one channel, so the 3x3 stem has 3*3*(3-1)*16 fewer weights.
    expected = model_info("resnet_20")["params"] - 3 * 3 * 2 * 16
    assert metrics["params"]["trainable"] == expected

    rows = _csv_rows(os.path.join(out, "log.csv"))
    assert [int(r["epoch"]) for r in rows] == [0]
    for column in ("loss", "accuracy", "cross_entropy", "val_accuracy",
                   "val_cross_entropy", "lr", "epoch_time_s"):
        assert column in rows[0]
    # The val_* columns come from training images held out by default
    # ("auto": 10% of the 256-image subset, drawn with the fixed seed 0,
    # disjoint from the 256 training images), not from the test set.
    assert metrics["validation_data"] == "held_out"
    assert metrics["validation_examples"] == 25
    assert metrics["validation_seed"] == 0
    assert metrics["selection"]["split"] == (
        "validation (25 held-out training images, seed 0)")
    x_val, y_val, train_idx, val_idx = _held_out(25, 256)
    assert len(train_idx) == 256 and not set(train_idx) & set(val_idx)

    last = keras.saving.load_model(os.path.join(out, "last.keras"))
    best = keras.saving.load_model(os.path.join(out, "best.keras"))
    assert float(rows[0]["val_accuracy"]) == pytest.approx(
        _accuracy(last, x_val, y_val), abs=1e-6)
    accuracy, xent = _numpy_metrics(last, 200)
    assert metrics["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    _assert_cross_entropy(metrics["test_loss"], xent)
    assert sum(int(np.prod(w.shape)) for w in best.trainable_weights) == (
        expected)
    # One epoch: the selected model is that epoch's, the last one.
    assert metrics["selection"]["epoch"] == 1
    for a, b in zip(best.get_weights(), last.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert metrics["test"]["best"] == {"epoch": 1, "accuracy": pytest.approx(
        metrics["test_accuracy"]), "loss": pytest.approx(
        metrics["test_loss"])}
    assert "selected: epoch 1 of 1 (val_accuracy" in result.stdout

    import matplotlib.image

    with open(os.path.join(out, "curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(os.path.join(out, "curves.png"))
    assert image.shape[0] > 100 and image.shape[1] > 100
    if "tensorflow" in sys.modules or keras.backend.backend() == "tensorflow":
        for split in ("train", "validation"):
            events = os.listdir(os.path.join(out, "tensorboard", split))
            assert any(e.startswith("events.out.tfevents") for e in events)
    assert os.path.exists(os.path.join(out, "backup", "latest.weights.h5"))
    assert os.path.exists(os.path.join(out, "run_config.json"))


RESUMABLE = """
import json, os, sys
import keras
from keras_resvariants.training import train
from tests.training.tiny_net import tiny_plain_net

out, kill_after = sys.argv[1], int(sys.argv[2])


class Preempted(keras.callbacks.Callback):
    # Runs after the backup callback: the process dies as if preempted
    # right after finishing epoch `kill_after`.
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == kill_after:
            os._exit(75)


r = train(tiny_plain_net, "fashion_mnist", "quick", epochs=3,
          batch_size=32, train_subset=64, test_subset=40, seed=0, verbose=0,
          output_dir=out, callbacks=[Preempted()] if kill_after else [])
print("RESULT" + json.dumps({
    "epochs_run": list(r.history.epoch),
    "iterations": int(keras.ops.convert_to_numpy(
        r.model.optimizer.iterations)),
    "resumed_from_epoch": r.metrics["resumed_from_epoch"],
    "epochs_completed": r.metrics["epochs_completed"],
    "selection": r.metrics["selection"],
    "best_test_accuracy": r.metrics["test"]["best"]["accuracy"],
}))
"""


def test_killed_run_resumes_at_the_next_epoch_and_finishes(tmp_path):
    out = os.path.join(str(tmp_path), "run")
    backend = keras.backend.backend()
    first = run_script(RESUMABLE, out, 2, backend=backend)
    assert first.returncode == 75, describe(first)
    assert [int(r["epoch"]) for r in _csv_rows(
        os.path.join(out, "log.csv"))] == [0, 1]
    assert not os.path.exists(os.path.join(out, "metrics.json"))

    second = run_script(RESUMABLE, out, 0, backend=backend)  # same command
    assert second.returncode == 0, describe(second)
    line = [x for x in second.stdout.splitlines() if x.startswith("RESULT")]
    report = json.loads(line[-1][len("RESULT"):])
    assert report["epochs_run"] == [2]
    assert report["resumed_from_epoch"] == 2
    assert report["epochs_completed"] == 3
    steps = 64 // 32
    assert report["iterations"] == 3 * steps  # optimizer state restored
    rows = _csv_rows(os.path.join(out, "log.csv"))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    # The schedule continued where it stopped: the last epoch's rate is
    # the cosine rate of the run's last step.
    total = 3 * steps
    expected = 0.1 * 0.5 * (1 + math.cos(math.pi * (total - 1) / total))
    assert float(rows[2]["lr"]) == pytest.approx(expected, rel=1e-5)
    with open(os.path.join(out, "metrics.json")) as f:
        assert json.load(f)["epochs_completed"] == 3
    # Selection across the interruption: best.keras is the first epoch of
    # the highest held-out accuracy over all three epochs (6 images: 10%
    # of the 64-image subset).
    val = [float(r["val_accuracy"]) for r in rows]
    selection = report["selection"]
    assert selection["data"] == "held_out"
    assert selection["split"] == (
        "validation (6 held-out training images, seed 0)")
    assert selection["epoch"] == val.index(max(val)) + 1
    assert selection["value"] == pytest.approx(max(val))
    x_val, y_val, _, _ = _held_out(6, 64)
    best = keras.saving.load_model(os.path.join(out, "best.keras"))
    assert _accuracy(best, x_val, y_val) == pytest.approx(max(val),
                                                          abs=1e-6)
    assert report["best_test_accuracy"] == pytest.approx(
        _numpy_metrics(best, 40)[0], abs=1e-6)


def test_metrics_are_exact_and_resume_refuses_other_settings(tmp_path):
    out = os.path.join(str(tmp_path), "run")
    result = train(tiny_plain_net, "fashion_mnist", "quick", epochs=1,
                   batch_size=32, train_subset=64, test_subset=50,
                   validation_split=0, output_dir=out, verbose=0,
                   tensorboard=False, plot=False)
    accuracy, xent = _numpy_metrics(result.model, 50)
    assert result.metrics["test_accuracy"] == pytest.approx(accuracy,
                                                            abs=1e-6)
    _assert_cross_entropy(result.metrics["test_loss"], xent)
    assert result.metrics["validation_data"] == "none"
    with pytest.raises(ValueError, match="seed: 0 -> 1"):
        train(tiny_plain_net, "fashion_mnist", "quick", epochs=2,
              batch_size=32, train_subset=64, test_subset=50, seed=1,
              validation_split=0, output_dir=out, verbose=0)


def test_train_argument_errors():
    with pytest.raises(ValueError, match="per_replica_batch_size"):
        train("resnet_20", batch_size=64, per_replica_batch_size=32)
    with pytest.raises(ValueError, match="dataset"):
        train("resnet_20", "mnist")
    with pytest.raises(ValueError, match="recipe"):
        train("resnet_20", recipe="fast")


def test_cli_lists_the_recipes(capsys):
    from keras_resvariants.cli import main

    assert main(["train", "--list-recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ("ror", "rgs_cifar", "res_se_net", "seqconv", "rir",
                 "quick"):
        assert any(line.startswith(name + " ") for line in lines)
