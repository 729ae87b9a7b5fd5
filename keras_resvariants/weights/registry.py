"""The pretrained-weights registry: one typed record per `arch.tag`.

Records live in a JSON data file, `records.json` next to this module (or
the file named by `$KERAS_RESVARIANTS_WEIGHTS_RECORDS`, which replaces it:
tests and `publish --records` use that). The weight files themselves are
not in the package: `loading.resolve_weights_file` finds them (see there).

A record says what the weights are (architecture, hyperparameters, input
shape, classes, preprocessing), how to check them (sha256 of each file, a
fingerprint of the architecture's weight structure) and where they come
from (training command, recipe, epochs, seed, backend, date, measured test
accuracy), as timm's pretrained configs and keras-hub's preset metadata do.
"""

import contextlib
import contextvars
import dataclasses
import json
import os

from keras_resvariants import _catalog as catalog
from keras_resvariants.datasets import Preprocessing

RECORDS_ENV = "KERAS_RESVARIANTS_WEIGHTS_RECORDS"
RECORDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "records.json")
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """One `.weights.h5` file of a record.

    Attributes:
        name: file name, e.g. `"resnet_20.fashion_mnist.weights.h5"`.
        sha256: hex sha256 of the file's bytes.
        fingerprint: `fingerprint()` of the weight structure the file holds
            (the network with the head for the top file, without it for
            the no-top file).
        size: file size in bytes.
    """

    name: str
    sha256: str
    fingerprint: str
    size: int

    def to_config(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class WeightsRecord:
    """A published weights set, `arch.tag` (e.g. `resnet_20.fashion_mnist`).

    Attributes:
        arch: registry key of the network (`keras_resvariants.list_models`).
        tag: dataset plus optional recipe, e.g. `"fashion_mnist"`.
        dataset: dataset the weights were trained on.
        classes: classes of the head.
        input_shape: `(height, width, channels)` the weights were trained
            at.
        hyperparameters: builder hyperparameters the weights need (merged
            over the builder's defaults when loading by tag).
        preprocessing: the `Preprocessing` the inputs must go through.
        top, notop: the two `WeightsFile`s (with and without the head).
        test_accuracy: top-1 accuracy on the full test split, re-measured
            by loading the published files by tag.
        metrics: what the training run itself reported (`metrics.json`).
        params: parameter counts, and the paper's and the registry's
            expected count where compared.
        source: how the weights were produced: command, recipe, epochs,
            seed, backend, date, versions, run directory, checkpoint.
        base_url: URL prefix the files can be downloaded from (`None`:
            not hosted; the files must be found locally).
        selection: which checkpoint of the run was published and on which
            split it was chosen: a dict with `checkpoint` (`"best.keras"`
            or `"last.keras"`), `data` (`"held_out"`, `"test"` or
            `"none"`), `split` (a description), `monitor`, `value`,
            `epoch` and `epochs`. `None` in records published before it
            existed (their runs selected on the test set by default).
    """

    arch: str
    tag: str
    dataset: str
    classes: int
    input_shape: tuple
    hyperparameters: dict
    preprocessing: Preprocessing
    top: WeightsFile
    notop: WeightsFile
    test_accuracy: float | None = None
    metrics: dict = dataclasses.field(default_factory=dict)
    params: dict = dataclasses.field(default_factory=dict)
    source: dict = dataclasses.field(default_factory=dict)
    base_url: str | None = None
    selection: dict | None = None

    @property
    def name(self):
        """`"arch.tag"`."""
        return f"{self.arch}.{self.tag}"

    def file(self, include_top):
        """The top or no-top `WeightsFile`."""
        return self.top if include_top else self.notop

    def to_config(self):
        """JSON-friendly dict (the form stored in `records.json`)."""
        return {
            "arch": self.arch,
            "tag": self.tag,
            "dataset": self.dataset,
            "classes": self.classes,
            "input_shape": list(self.input_shape),
            "hyperparameters": dict(self.hyperparameters),
            "preprocessing": self.preprocessing.to_config(),
            "top": self.top.to_config(),
            "notop": self.notop.to_config(),
            "test_accuracy": self.test_accuracy,
            "metrics": dict(self.metrics),
            "params": dict(self.params),
            "source": dict(self.source),
            "base_url": self.base_url,
            "selection": (None if self.selection is None
                          else dict(self.selection)),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["input_shape"] = tuple(config["input_shape"])
        config["preprocessing"] = Preprocessing.from_config(
            config["preprocessing"])
        config["top"] = WeightsFile(**config["top"])
        config["notop"] = WeightsFile(**config["notop"])
        return cls(**config)


# The records file of a `use_records` block (this thread or task only).
_RECORDS_OVERRIDE = contextvars.ContextVar("records_override", default=None)


def records_path():
    """The records file in use: the one of the enclosing `use_records`
    block, else `$KERAS_RESVARIANTS_WEIGHTS_RECORDS`, else the package's
    `records.json`."""
    return (_RECORDS_OVERRIDE.get() or os.environ.get(RECORDS_ENV)
            or RECORDS_FILE)


@contextlib.contextmanager
def use_records(path):
    """Inside the block, names and tags resolve from the records file
    `path`: the in-process form of `$KERAS_RESVARIANTS_WEIGHTS_RECORDS`,
    without touching the environment (and local to the current thread or
    asyncio task)."""
    token = _RECORDS_OVERRIDE.set(os.fspath(path))
    try:
        yield
    finally:
        _RECORDS_OVERRIDE.reset(token)


_CACHE = {}


def _records():
    """`{name: WeightsRecord}` of the records file, cached until it
    changes on disk."""
    path = os.path.abspath(records_path())
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        if path == os.path.abspath(RECORDS_FILE):
            return {}
        raise FileNotFoundError(
            f"The weights records file {path!r} (from ${RECORDS_ENV}) does "
            "not exist."
        ) from None
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _parse(path)
    return _CACHE[key]


def _parse(path):
    with open(path) as f:
        data = json.load(f)
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path!r} is not a keras_resvariants weights records file "
            f"(format_version {FORMAT_VERSION}). Received: "
            f"format_version={data.get('format_version')!r}"
        )
    out = {}
    for name, config in data.get("records", {}).items():
        try:
            record = WeightsRecord.from_config(config)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"Invalid weights record {name!r} in {path!r}: {error}"
            ) from error
        if record.name != name:
            raise ValueError(
                f"Weights record {name!r} in {path!r} describes "
                f"{record.name!r}."
            )
        out[name] = record
    return out


def list_weights(arch=None):
    """Names (`"arch.tag"`) of the published weights, sorted.

    Args:
        arch: optional registry key or builder name; only its weights.

    Example:

    >>> keras_resvariants.list_weights("resnet_20")
    ['resnet_20.fashion_mnist']
    """
    records = _records()
    if arch is not None:
        try:
            arch = _arch_key(arch)
        except ValueError:
            raise ValueError(
                "`arch` must be None or a registry key or builder name (see "
                f"keras_resvariants.list_models()). Received: arch={arch!r}"
            ) from None
        return sorted(n for n, r in records.items() if r.arch == arch)
    return sorted(records)


def tags(arch):
    """Tags published for `arch`, sorted (e.g. `["fashion_mnist"]`)."""
    arch = _arch_key(arch)
    return sorted(r.tag for r in _records().values() if r.arch == arch)


def weights_info(name):
    """The `WeightsRecord` of a published weights set.

    Args:
        name: `"arch.tag"` (e.g. `"resnet_20.fashion_mnist"`) or a
            `WeightsRecord`.

    Raises:
        ValueError: for an unknown name; the message lists the published
            weights.
    """
    if isinstance(name, WeightsRecord):
        return name
    records = _records()
    if isinstance(name, str) and name in records:
        return records[name]
    available = ", ".join(sorted(records)) or "none published"
    raise ValueError(
        "`name` must be the name (`arch.tag`) of published weights: "
        f"{available}. Received: name={name!r}"
    )


def find_record(arch, weights):
    """The record `weights` names for `arch`, or `None`.

    `weights` may be a tag (`"fashion_mnist"`), a full name
    (`"resnet_20.fashion_mnist"`) or a `WeightsRecord` of this
    architecture.
    """
    if isinstance(weights, WeightsRecord):
        return weights if weights.arch == arch else None
    if not isinstance(weights, str) or arch is None:
        return None
    records = _records()
    return records.get(f"{arch}.{weights}") or (
        records[weights] if weights in records
        and records[weights].arch == arch else None
    )


def write_record(record, path=None):
    """Adds or replaces `record` in the records file `path` (default:
    `records_path()`), keeping the other records and sorting by name."""
    path = path or records_path()
    data = {"format_version": FORMAT_VERSION, "records": {}}
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
    data["format_version"] = FORMAT_VERSION
    records = dict(data.get("records", {}))
    records[record.name] = record.to_config()
    data["records"] = dict(sorted(records.items()))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)
    _CACHE.clear()


def _arch_key(arch):
    return catalog.arch_entry(arch).key
