"""Callbacks and log files of `train()`."""

import csv
import json
import os
import time

import keras
import numpy as np

from keras_resvariants.runs import read_csv_log


class EpochLogs(keras.callbacks.Callback):
    """Adds `lr` (the rate of the epoch's last step) and `epoch_time_s`
    to the epoch logs, so the CSV log and TensorBoard record them.

    Args:
        schedule: the optimizer's learning-rate schedule (a callable of the
            step), or `None` to log `optimizer.learning_rate`.
    """

    def __init__(self, schedule=None):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = self.model.optimizer
        if callable(self.schedule):
            step = int(keras.ops.convert_to_numpy(optimizer.iterations))
            lr = self.schedule(max(step - 1, 0))
        else:
            lr = optimizer.learning_rate  # constant rate
        logs["lr"] = float(keras.ops.convert_to_numpy(lr))
        logs["epoch_time_s"] = time.perf_counter() - self._start


def read_backup_epoch(backup_dir):
    """Epochs already finished according to a `BackupAndRestore` directory
    (0 when there is none)."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(json.load(f).get("epoch", 0))


def truncate_csv_log(path, epochs_done):
    """Drops rows for epochs >= `epochs_done` (written before an
    interruption that the backup did not record), so a resumed run appends
    exactly once per epoch."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    if "epoch" not in header:
        return
    col = header.index("epoch")
    kept = [r for r in body if r and int(float(r[col])) < epochs_done]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(kept)


def plot_curves(csv_path, png_path, title=""):
    """Writes a training-curve PNG (loss, accuracy, learning rate per
    epoch) from a CSV log. Returns `False` if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = read_csv_log(csv_path)
    if not rows:
        return False
    epochs = np.array([r["epoch"] for r in rows]) + 1
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, label in (
        (axes[0], "cross_entropy", "cross-entropy"),
        (axes[1], "accuracy", "accuracy"),
    ):
        for prefix, name in (("", "train"), ("val_", "validation")):
            values = [r.get(prefix + key) for r in rows]
            if all(isinstance(x, float) for x in values):
                ax.plot(epochs, values, marker="o", ms=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    lrs = [r.get("lr") for r in rows]
    if all(isinstance(x, float) for x in lrs):
        axes[2].plot(epochs, lrs, marker="o", ms=3)
        axes[2].set_yscale("log")
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("learning rate (end of epoch)")
    axes[2].grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return True
