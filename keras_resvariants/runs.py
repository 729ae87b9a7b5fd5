"""The run directory of `resvariants train`, as one type.

`train()` writes it; publishing, SavedModel export, `bench --accuracy` and
the study read it. Its file names live here only:

    RUN/
      run_config.json   what was asked (resuming checks it)
      log.csv           one row per epoch (CSVLogger)
      best.keras        the epoch of the best validation accuracy
      last.keras        the last epoch
      metrics.json      the run's results (`train()` returns them)
      curves.png        loss / accuracy / learning rate per epoch
      tensorboard/      TensorBoard logs
      backup/           BackupAndRestore state (`worker<i>/` holds the
                        checkpoints and log of process i > 0)
"""

import csv
import dataclasses
import json
import os
import platform

CHECKPOINTS = ("best", "last")
CONFIG = "run_config.json"
LOG = "log.csv"
BEST = "best.keras"
LAST = "last.keras"
METRICS = "metrics.json"
CURVES = "curves.png"


def read_csv_log(path):
    """Rows of a `CSVLogger` file (`RunDir.log`) as a list of dicts of
    floats; `[]` when there is none."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        rows = []
        for row in csv.DictReader(f):
            parsed = {}
            for key, value in row.items():
                try:
                    parsed[key] = float(value)
                except (TypeError, ValueError):
                    parsed[key] = value
            rows.append(parsed)
    return rows


@dataclasses.dataclass(frozen=True)
class RunDir:
    """The files of one training run directory (`path`). A process other
    than the chief of a multi-process run writes its checkpoints and log
    to `RunDir(os.path.join(run.backup, f"worker{i}"))`."""

    path: str

    def _file(self, name):
        return os.path.join(self.path, name)

    @property
    def config(self):
        return self._file(CONFIG)

    @property
    def log(self):
        return self._file(LOG)

    @property
    def best(self):
        return self._file(BEST)

    @property
    def last(self):
        return self._file(LAST)

    @property
    def metrics(self):
        return self._file(METRICS)

    @property
    def curves(self):
        return self._file(CURVES)

    @property
    def tensorboard(self):
        return self._file("tensorboard")

    @property
    def backup(self):
        return self._file("backup")

    def checkpoint(self, which):
        """The `.keras` file of `which` (`"best"` or `"last"`)."""
        if which not in CHECKPOINTS:
            raise ValueError(
                f"`checkpoint` must be one of {CHECKPOINTS}. Received: "
                f"checkpoint={which!r}"
            )
        return self._file(f"{which}.keras")

    def read_metrics(self):
        """`metrics.json` as a dict, or `None` when the run has none (it
        did not finish)."""
        if not os.path.isfile(self.metrics):
            return None
        with open(self.metrics) as f:
            return json.load(f)

    def finished(self, epochs):
        """`metrics.json` when the run completed `epochs` epochs, else
        `None`."""
        metrics = self.read_metrics()
        if not metrics or metrics.get("epochs_completed") != epochs:
            return None
        return metrics


def cpu_model(default):
    """The CPU model name from `/proc/cpuinfo`, else `default`."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default


def machine():
    """The CPU model, the cores this process may use and the platform: what
    a run's `metrics.json` (and the weights' card) records of its machine.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return {"cpu": cpu_model(platform.processor() or "unknown"),
            "cores": cores,
            "platform": f"{platform.system()} {platform.machine()}"}

