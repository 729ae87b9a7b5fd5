"""Training and evaluation data for the papers' recipes.

Four datasets, all channels-last, all labels int32:

* `fashion_mnist`: read from the IDX files of Debian's
  `dataset-fashion-mnist` package (`/usr/share/datasets/fashion-mnist/`,
  overridable with `data_dir`); no network, no TensorFlow needed.
* `cifar10`, `cifar100`, `imagenet2012`: through tensorflow-datasets
  (`data_dir`, `download`). Offline with no prepared data is a
  `FileNotFoundError` that names `data_dir` and the `tfds build` command to
  run on a connected machine.

Augmentation follows the papers: 4-pixel zero padding + random crop +
horizontal flip for the 32x32 sets (He et al. 2016); the same for 28x28
Fashion-MNIST (zero = the background, one channel); the Inception-style
random-resized crop + flip for ImageNet (Szegedy et al. 2015) with the
usual resize-256 / centre-crop-224 evaluation. Padding is applied to the
raw pixels, before normalisation, as torchvision's `RandomCrop(padding=4)`
does. Images are then normalised per channel with the dataset's mean and
standard deviation (`DATASETS[name].mean/std`, computed on the training
split).

Two pipeline implementations with the same semantics:

* `"tf.data"`: shuffling with a seed, stateless per-example augmentation,
  `.repeat()`, batching, prefetching (`tf.data.AUTOTUNE`).
* `"numpy"`: `keras.utils.PyDataset`s over in-memory arrays, for backends
  without TensorFlow (the JAX-only GPU machine). Batches are a pure
  function of `(seed, global step)`, so a multi-process run whose
  processes each take their slice of every global batch trains on exactly
  the batches of the single-process run.

Evaluation datasets yield `(images, labels, weights)`: the last partial
batch is padded to a full batch with weight 0, so weighted metrics over the
whole split are exact on any number of devices.
"""

import dataclasses
import functools
import gzip
import math
import os

import numpy as np

from keras_resvariants import _extras
from keras_resvariants import _validation as v
from keras_resvariants.datasets import DATASETS  # noqa: F401 (re-export)
from keras_resvariants.datasets import DatasetInfo
from keras_resvariants.datasets import get_dataset_info

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "KERAS_RESVARIANTS_FASHION_MNIST_DIR"

_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

PIPELINES = ("auto", "tf.data", "numpy")

# Seed of the held-out validation draw used by `train()`: fixed, and
# independent of the training seed, so that runs with different seeds are
# selected and compared on the same held-out images.
VALIDATION_SEED = 0


def global_batch_size(per_replica_batch_size, num_replicas):
    """The global batch: `per_replica_batch_size * num_replicas`."""
    per_replica = v.check_positive_int(
        "per_replica_batch_size", per_replica_batch_size
    )
    return per_replica * v.check_positive_int("num_replicas", num_replicas)


# ---------------------------------------------------------------------------
# Fashion-MNIST from IDX files


def read_idx(path):
    """Reads an IDX file (optionally gzipped) into a NumPy array.

    Args:
        path: str. Path to a `*-idx?-ubyte` or `*-idx?-ubyte.gz` file.

    Returns:
        A `uint8` array with the shape stored in the file header.
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(
            f"{path!r} is not an unsigned-byte IDX file (bad magic number)."
        )
    ndim = data[3]
    dims = tuple(
        int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)
    )
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(data) - offset != count:
        raise ValueError(
            f"{path!r} is truncated: the header announces {dims} values, "
            f"the file holds {len(data) - offset}."
        )
    return np.frombuffer(data, np.uint8, count, offset).reshape(dims)


def _find_idx(data_dir, stem):
    for candidate in (stem + ".gz", stem):
        path = os.path.join(data_dir, candidate)
        if os.path.exists(path):
            return path
    return None


def load_fashion_mnist(data_dir=None):
    """Loads Fashion-MNIST from local IDX files, with no network access.

    Args:
        data_dir: directory holding `train-images-idx3-ubyte[.gz]`,
            `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`
            and `t10k-labels-idx1-ubyte[.gz]`. Defaults to
            `$KERAS_RESVARIANTS_FASHION_MNIST_DIR`, else
            `/usr/share/datasets/fashion-mnist` (Debian's
            `dataset-fashion-mnist` package).

    Returns:
        `((x_train, y_train), (x_test, y_test))`: `uint8` images of shape
        `(n, 28, 28, 1)` and `int32` labels of shape `(n,)`, read-only
        (cached per directory).

    Raises:
        FileNotFoundError: when a file is missing; the message says how
            to install the data.
    """
    if data_dir is None:
        data_dir = os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR
    return _load_fashion_mnist(os.path.abspath(data_dir))


@functools.lru_cache(maxsize=2)
def _load_fashion_mnist(data_dir):
    # Cached per directory: the arrays are read-only, so sharing is safe.
    paths = {}
    for key, stem in _IDX_FILES.items():
        path = _find_idx(data_dir, stem)
        if path is None:
            raise FileNotFoundError(
                f"Fashion-MNIST file {stem}[.gz] not found in "
                f"data_dir={data_dir!r}. Install Debian's package "
                "(`apt-get install dataset-fashion-mnist`, which puts the "
                f"files in {FASHION_MNIST_DIR}) or pass `data_dir` (CLI: "
                "`--data-dir`) pointing at a directory with the four IDX "
                "files."
            )
        paths[key] = path
    arrays = {key: read_idx(path) for key, path in paths.items()}
    x_train = arrays["train_images"][..., None]
    x_test = arrays["test_images"][..., None]
    y_train = arrays["train_labels"].astype("int32")
    y_test = arrays["test_labels"].astype("int32")
    y_train.flags.writeable = False
    y_test.flags.writeable = False
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(
            f"Fashion-MNIST files in {data_dir!r} disagree on the number of "
            "images and labels."
        )
    return (x_train, y_train), (x_test, y_test)


# ---------------------------------------------------------------------------
# tensorflow-datasets


def _tfds_error(name, data_dir, error):
    shown = data_dir or "~/tensorflow_datasets (the tfds default)"
    target = data_dir or "DIR"
    manual = ""
    if name == "imagenet2012":
        manual = (
            " ImageNet needs the ILSVRC2012 tar files placed by hand in "
            "`DIR/downloads/manual/` first (tfds cannot download them)."
        )
    return FileNotFoundError(
        f"No prepared `{name}` found in data_dir={shown!r} and "
        f"download=False.{manual} Prepare it on a machine with internet "
        f"access: `tfds build {name} --data_dir {target}` (or "
        f"`tfds.builder({name!r}, data_dir=...).download_and_prepare()`), "
        f"then copy that directory here and pass it as `data_dir` (CLI: "
        f"`--data-dir`); or pass `download=True` (CLI: `--download`) on a "
        f"connected machine. (tfds said: {error})"
    )


def load_tfds(name, split, *, data_dir=None, download=False,
              decoders=None):
    """`tfds.load(name, split=split, as_supervised=True)` with a clear error.

    Args:
        name: tfds dataset name (`"cifar10"`, `"cifar100"`,
            `"imagenet2012"`).
        split: tfds split string, e.g. `"train[:45000]"`.
        data_dir: tfds data directory. Defaults to tfds' own default
            (`$TFDS_DATA_DIR` or `~/tensorflow_datasets`).
        download: bool. Whether tfds may download and prepare the data.
        decoders: optional tfds `decoders` (e.g.
            `{"image": tfds.decode.SkipDecoding()}` for encoded images).

    Returns:
        A `tf.data.Dataset` of `(uint8 image, int64 label)`, in the order of
        the prepared files (`shuffle_files=False`).

    Raises:
        FileNotFoundError: offline with no prepared data; the message
            names `data_dir` and how to prepare it.
        ImportError: without tensorflow-datasets; it names the extra.
    """
    _extras.require("train", f"The {name!r} dataset",
                    "tensorflow_datasets", "tensorflow")
    import tensorflow_datasets as tfds

    try:
        return tfds.load(
            name,
            split=split,
            data_dir=data_dir,
            download=download,
            as_supervised=True,
            shuffle_files=False,
            decoders=decoders,
        )
    except (AssertionError, FileNotFoundError) as error:
        raise _tfds_error(name, data_dir, error) from error
    except Exception as error:  # tfds' DatasetNotFoundError and friends
        if type(error).__name__ in (
            "DatasetNotFoundError",
            "NotFoundError",
        ):
            raise _tfds_error(name, data_dir, error) from error
        raise


# ---------------------------------------------------------------------------
# Splitting


def _resolve_count(name, value, total):
    """`value` as a count: a fraction in (0, 1) of `total` or an int."""
    if value is None or (not isinstance(value, str) and value == 0):
        return 0
    if isinstance(value, float):
        if not 0.0 < value < 1.0:
            raise ValueError(
                f"`{name}` must be a fraction in (0, 1) or a number of "
                f"examples in [0, {total - 1}]. Received: {name}={value!r}"
            )
        return max(1, int(round(value * total)))
    return v.check_int(name, value, minimum=0, maximum=total - 1)


def resolve_validation_split(dataset, validation_split, *, train_subset=None,
                             num_examples=None):
    """The number of training examples `validation_split` holds out.

    * `"auto"`: the dataset's `auto_validation` examples (5,000 for
      Fashion-MNIST and CIFAR-10/100, 10,000 for ImageNet), but at most
      10% of the training examples in use (`train_subset` when given,
      else the whole training split) and at least 1. A run on a 256-image
      subset thus holds out 25 further images.
    * a fraction in (0, 1): that fraction of the whole training split.
    * an int: that many examples. `0` (or `None`): none.

    Args:
        dataset: a `DATASETS` key.
        validation_split: `"auto"`, a fraction or a count.
        train_subset: optional number of training examples in use.
        num_examples: size of the training split. Defaults to the
            dataset's `train_examples`.

    Returns:
        An int in `[0, num_examples - 1]`.

    Example:

    >>> keras_resvariants.data.resolve_validation_split(
    ...     "fashion_mnist", "auto")
    5000
    >>> keras_resvariants.data.resolve_validation_split(
    ...     "fashion_mnist", "auto", train_subset=2048)
    204
    """
    info = get_dataset_info(dataset)
    total = v.check_positive_int(
        "num_examples", info.train_examples if num_examples is None
        else num_examples
    )
    if isinstance(validation_split, str):
        if validation_split != "auto":
            raise ValueError(
                "`validation_split` must be 'auto', a fraction in (0, 1) or "
                f"a number of examples in [0, {total - 1}]. Received: "
                f"validation_split={validation_split!r}"
            )
        pool = total
        if train_subset is not None:
            pool = min(total, v.check_int("train_subset", train_subset,
                                          minimum=1))
        return max(0, min(info.auto_validation, max(1, pool // 10),
                          total - 1))
    return _resolve_count("validation_split", validation_split, total)


def split_indices(num_examples, *, validation_split=0.0, train_subset=None,
                  seed=0):
    """Indices of the training and held-out validation examples.

    The validation examples are drawn uniformly without replacement, from
    the whole training split, with `numpy.random.default_rng(seed)`; the
    remaining examples keep their file order, and `train_subset` keeps the
    first `train_subset` of them. The two sets never overlap, and the
    hold-out depends only on `num_examples`, its size and `seed` (not on
    `train_subset`).

    Args:
        num_examples: size of the training split.
        validation_split: fraction in (0, 1) (of `num_examples`) or number
            of examples to hold out. Defaults to `0.0` (none).
        train_subset: optional number of training examples to keep.
        seed: int. Seed of the hold-out draw.

    Returns:
        `(train_indices, validation_indices)`, int64 arrays, both sorted.
    """
    n_val = _resolve_count("validation_split", validation_split, num_examples)
    if n_val:
        held = np.random.default_rng(seed).choice(
            num_examples, n_val, replace=False
        )
        keep = np.ones(num_examples, bool)
        keep[held] = False
        train = np.flatnonzero(keep)
        val = np.sort(held)
    else:
        train = np.arange(num_examples)
        val = np.arange(0)
    if train_subset is not None:
        n = v.check_int("train_subset", train_subset, minimum=1)
        train = train[:n]
    return train.astype("int64"), val.astype("int64")


# ---------------------------------------------------------------------------
# NumPy augmentation and PyDatasets


def normalize_numpy(images, info):
    """`(images / 255 - mean) / std` in float32 (channels last)."""
    x = np.asarray(images, "float32") / 255.0
    mean = np.asarray(info.mean, "float32")
    std = np.asarray(info.std, "float32")
    return (x - mean) / std


def crop_flip_numpy(images, rng, padding):
    """Zero-pad by `padding`, random crop back to size, random h-flip.

    Args:
        images: `(n, h, w, c)` array.
        rng: `numpy.random.Generator`.
        padding: int, pixels of zero padding on each side.

    Returns:
        Array of the same shape and dtype.
    """
    n, h, w, _ = images.shape
    padded = np.pad(
        images, ((0, 0), (padding, padding), (padding, padding), (0, 0))
    )
    dy = rng.integers(0, 2 * padding + 1, n)
    dx = rng.integers(0, 2 * padding + 1, n)
    flip = rng.random(n) < 0.5
    out = np.empty_like(images)
    for i in range(n):
        crop = padded[i, dy[i]: dy[i] + h, dx[i]: dx[i] + w]
        out[i] = crop[:, ::-1] if flip[i] else crop
    return out


def _py_dataset_base():
    import keras

    return keras.utils.PyDataset


class _Sequences:
    """Namespace created lazily so that importing this module is light."""

    classes = None

    @classmethod
    def get(cls):
        if cls.classes is None:
            cls.classes = _make_sequence_classes(_py_dataset_base())
        return cls.classes


def _make_sequence_classes(base):
    class ArrayTrainDataset(base):
        """Shuffled, augmented, normalised training batches over arrays.

        Global batch `g` is a pure function of `(seed, g)`: example
        positions `g*B .. g*B+B-1` of an endless stream of seeded
        permutations (one per pass), augmented with
        `default_rng([seed, 1, g])`. Process `shard_index` of
        `num_shards` yields its contiguous slice of every global batch.
        """

        def __init__(self, x, y, info, *, batch_size, steps_per_epoch,
                     seed=0, augment=True, shard_index=0, num_shards=1,
                     initial_epoch=0):
            super().__init__(workers=1, use_multiprocessing=False)
            self.x, self.y, self.info = x, y, info
            self.batch_size = batch_size
            self.local_batch_size = batch_size // num_shards
            self.steps_per_epoch = steps_per_epoch
            self.seed, self.augment = seed, augment
            self.shard_index, self.num_shards = shard_index, num_shards
            self.epoch = initial_epoch
            self._perms = {}

        def __len__(self):
            return self.steps_per_epoch

        def _perm(self, p):
            if p not in self._perms:
                if len(self._perms) > 2:
                    self._perms.pop(min(self._perms))
                self._perms[p] = np.random.default_rng(
                    [self.seed, 0, p]
                ).permutation(len(self.x))
            return self._perms[p]

        def global_batch_indices(self, g):
            n = len(self.x)
            pos = np.arange(g * self.batch_size, (g + 1) * self.batch_size)
            passes = pos // n
            out = np.empty(len(pos), "int64")
            for p in np.unique(passes):
                sel = passes == p
                out[sel] = self._perm(int(p))[pos[sel] % n]
            return out

        def __getitem__(self, index):
            g = self.epoch * self.steps_per_epoch + index
            idx = self.global_batch_indices(g)
            images = self.x[idx]
            if self.augment:
                rng = np.random.default_rng([self.seed, 1, g])
                images = crop_flip_numpy(
                    images, rng, self.info.crop_padding
                )
            lo = self.shard_index * self.local_batch_size
            hi = lo + self.local_batch_size
            return (
                normalize_numpy(images[lo:hi], self.info),
                self.y[idx][lo:hi],
            )

        def on_epoch_end(self):
            self.epoch += 1

    class ArrayEvalDataset(base):
        """Normalised `(x, y, weight)` batches; the tail is padded with
        weight-0 examples so every batch is full."""

        def __init__(self, x, y, info, *, batch_size, shard_index=0,
                     num_shards=1):
            super().__init__(workers=1, use_multiprocessing=False)
            self.info = info
            self.local_batch_size = batch_size // num_shards
            per_shard = math.ceil(len(x) / num_shards)
            self.steps = max(1, math.ceil(per_shard / self.local_batch_size))
            length = self.steps * self.local_batch_size
            xs = x[shard_index::num_shards]
            ys = y[shard_index::num_shards]
            self.weights = np.zeros(length, "float32")
            self.weights[: len(xs)] = 1.0
            pad = length - len(xs)
            self.x = np.concatenate([xs, np.zeros((pad,) + x.shape[1:],
                                                  x.dtype)])
            self.y = np.concatenate([ys, np.zeros((pad,), y.dtype)])

        def __len__(self):
            return self.steps

        def __getitem__(self, index):
            sl = slice(index * self.local_batch_size,
                       (index + 1) * self.local_batch_size)
            return (
                normalize_numpy(self.x[sl], self.info),
                self.y[sl],
                self.weights[sl],
            )

    return ArrayTrainDataset, ArrayEvalDataset


# ---------------------------------------------------------------------------
# tf.data


def _tf():
    _extras.require("train", "The tf.data pipeline", "tensorflow")
    import tensorflow as tf

    return tf


def normalize_tf(image, info):
    """`(image / 255 - mean) / std` as float32, in TensorFlow."""
    tf = _tf()
    x = tf.cast(image, tf.float32) / 255.0
    return (x - tf.constant(info.mean, tf.float32)) / tf.constant(
        info.std, tf.float32
    )


def crop_flip_tf(image, seed, padding):
    """Stateless pad + random crop + random flip of one uint8 image."""
    tf = _tf()
    shape = tf.shape(image)
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    seeds = tf.random.experimental.stateless_split(seed, 2)
    cropped = tf.image.stateless_random_crop(padded, shape, seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(cropped, seed=seeds[1])


def inception_crop_tf(image, seed, size=224):
    """Inception-style training crop (Szegedy et al. 2015) of one image.

    A random box covering 8%-100% of the image with aspect ratio in
    [3/4, 4/3], resized (bilinear) to `size` x `size`, then a random
    horizontal flip. Returns float32 in pixel units [0, 255].
    """
    tf = _tf()
    seeds = tf.random.experimental.stateless_split(seed, 2)
    begin, box_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seeds[0],
        min_object_covered=0.1,
        aspect_ratio_range=(3.0 / 4.0, 4.0 / 3.0),
        area_range=(0.08, 1.0),
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, box_size)
    crop = tf.image.resize(crop, (size, size), method="bilinear")
    return tf.image.stateless_random_flip_left_right(crop, seed=seeds[1])


def center_crop_tf(image, size=224, resize=256):
    """Evaluation crop: shorter side to `resize`, centre `size` crop.
    Returns float32 in pixel units [0, 255]."""
    tf = _tf()
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = resize / tf.reduce_min(shape)
    new = tf.cast(tf.round(shape * scale), tf.int32)
    image = tf.image.resize(image, new, method="bilinear")
    top = (new[0] - size) // 2
    left = (new[1] - size) // 2
    return tf.image.crop_to_bounding_box(image, top, left, size, size)


def _tf_train_pipeline(ds, info, *, batch_size, seed, augment, buffer,
                       cache=True):
    """Shuffle (seeded), repeat, augment (stateless), batch, prefetch."""
    tf = _tf()
    auto = tf.data.AUTOTUNE
    if cache:
        ds = ds.cache()
    ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat()
    # One int64 per example drives its stateless augmentation, so the
    # pipeline is deterministic for a seed even with parallel `map`.
    noise = tf.data.Dataset.random(seed=seed)
    ds = tf.data.Dataset.zip((ds, noise))

    def transform(example, r):
        image, label = example
        seed2 = tf.stack([r, tf.constant(seed, tf.int64)])
        if info.augmentation == "inception":
            if augment:
                image = inception_crop_tf(image, seed2, info.image_shape[0])
            else:
                image = center_crop_tf(image, info.image_shape[0])
        elif augment:
            image = crop_flip_tf(image, seed2, info.crop_padding)
        return normalize_tf(image, info), tf.cast(label, tf.int32)

    ds = ds.map(transform, num_parallel_calls=auto, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    return _with_data_sharding_off(ds.prefetch(auto))


def _cardinality(ds, fallback):
    n = int(ds.cardinality())
    return n if n >= 0 else fallback


def _tf_eval_pipeline(ds, n, info, *, batch_size, shard_index=0,
                      num_shards=1):
    """Shard, normalise, pad with weight-0 examples, batch.

    Every shard yields the same number of full batches,
    `ceil(ceil(n / num_shards) / batch_size)`, with `batch_size` the
    per-shard batch; padding examples are zeros with weight 0.
    """
    tf = _tf()
    auto = tf.data.AUTOTUNE
    if num_shards > 1:
        ds = ds.shard(num_shards, shard_index)
    shard_len = math.ceil((n - shard_index) / num_shards)
    steps = max(1, math.ceil(math.ceil(n / num_shards) / batch_size))
    missing = steps * batch_size - shard_len

    def transform(image, label):
        if info.augmentation == "inception":
            image = center_crop_tf(image, info.image_shape[0])
        return (
            normalize_tf(image, info),
            tf.cast(label, tf.int32),
            tf.constant(1.0, tf.float32),
        )

    ds = ds.map(transform, num_parallel_calls=auto, deterministic=True)
    if missing:
        filler = tf.data.Dataset.from_tensors((
            tf.zeros(info.image_shape, tf.float32),
            tf.constant(0, tf.int32),
            tf.constant(0.0, tf.float32),
        )).repeat(missing)
        ds = ds.concatenate(filler)
    ds = ds.batch(batch_size, drop_remainder=True)
    return _with_data_sharding_off(ds.prefetch(auto))


def _with_data_sharding_off(ds):
    # Under a multi-worker strategy, shard by data, not by files (the input
    # is in memory or a single tfds file set, so file sharding would give
    # some workers no data).
    tf = _tf()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    options.deterministic = True
    return ds.with_options(options)


# ---------------------------------------------------------------------------
# The entry point


@dataclasses.dataclass
class DataSplits:
    """What `make_datasets` returns.

    Attributes:
        train: endless training batches `(images, labels)` (a
            `tf.data.Dataset` or a `keras.utils.PyDataset`).
        validation: `(images, labels, weights)` batches of the held-out
            split, or `None`.
        test: `(images, labels, weights)` batches of the test split.
        info: the `DatasetInfo`.
        steps_per_epoch: training steps per epoch.
        train_examples, validation_examples, test_examples: split sizes
            (before padding).
        global_batch_size: examples per training step over all replicas.
        pipeline: `"tf.data"` or `"numpy"`.
        validation_seed: seed of the hold-out draw.
        train_indices, validation_indices: positions in the training split
            of the training and held-out examples (int64 arrays, sorted;
            for tfds data, positions in the order `load_tfds` reads the
            prepared files).
    """

    train: object
    validation: object
    test: object
    info: DatasetInfo
    steps_per_epoch: int
    train_examples: int
    validation_examples: int
    test_examples: int
    global_batch_size: int
    pipeline: str
    validation_seed: int = 0
    train_indices: object = None
    validation_indices: object = None


def resolve_pipeline(pipeline, dataset):
    """`"auto"` → `"tf.data"` on the TensorFlow backend or for tfds data,
    `"numpy"` otherwise."""
    v.check_choice("pipeline", pipeline, PIPELINES)
    info = get_dataset_info(dataset)
    if pipeline != "auto":
        if pipeline == "numpy" and info.source != "idx":
            raise ValueError(
                f"`pipeline` must be 'tf.data' or 'auto' for the tfds "
                f"dataset {dataset!r}. Received: pipeline='numpy'"
            )
        return pipeline
    if info.source == "tfds":
        return "tf.data"
    import keras

    return "tf.data" if keras.backend.backend() == "tensorflow" else "numpy"


def make_datasets(dataset, *, batch_size, data_dir=None, download=False,
                  validation_split=0.0, train_subset=None, test_subset=None,
                  steps_per_epoch=None, augment=True, seed=0,
                  validation_seed=None, pipeline="auto", shard_index=0,
                  num_shards=1, eval_batch_size=None, initial_epoch=0):
    """Builds the training, validation and test pipelines of a dataset.

    The validation examples are a seeded random draw from the training
    split (`split_indices`), for the IDX and the tfds datasets alike; the
    training examples are the others (the first `train_subset` of them),
    so the two never overlap. The test pipeline is built but not read.

    Args:
        dataset: `"fashion_mnist"`, `"cifar10"`, `"cifar100"` or
            `"imagenet2012"`.
        batch_size: int. Global batch size (all replicas and processes).
        data_dir: where the data lives (see `load_fashion_mnist` and
            `load_tfds`). Defaults to each source's default.
        download: bool. Let tfds download (tfds datasets only).
        validation_split: `"auto"`, a fraction in (0, 1) or a number of
            training examples held out for validation (see
            `resolve_validation_split`). Defaults to `0.0`.
        train_subset: optional number of training examples to use.
        test_subset: optional number of test examples to use (the first
            ones).
        steps_per_epoch: optional steps per epoch; defaults to
            `train_examples // batch_size` (at least 1).
        augment: bool. Apply the training augmentation.
        seed: int. Seed of shuffling and augmentation (and of the hold-out
            draw when `validation_seed` is `None`).
        validation_seed: int. Seed of the hold-out draw. Defaults to
            `seed`; `train()` passes the fixed `VALIDATION_SEED`.
        pipeline: `"auto"`, `"tf.data"` or `"numpy"`.
        shard_index, num_shards: this process's shard (multi-process data
            parallelism, where each process feeds its own slice of every
            batch). `batch_size` must be divisible by `num_shards`.
        eval_batch_size: global evaluation batch. Defaults to
            `batch_size`.
        initial_epoch: epoch the (NumPy) training stream starts at, so a
            resumed run continues the batch sequence.

    Returns:
        A `DataSplits`.

    Example:

    >>> splits = keras_resvariants.data.make_datasets(
    ...     "fashion_mnist", batch_size=128, validation_split="auto",
    ...     train_subset=1024, validation_seed=0)
    >>> splits.train_examples, splits.validation_examples
    (1024, 102)
    >>> bool(set(splits.train_indices) & set(splits.validation_indices))
    False

    `model.fit(splits.train, steps_per_epoch=splits.steps_per_epoch,
    validation_data=splits.validation, ...)` then trains and validates.
    """
    info = get_dataset_info(dataset)
    batch_size = v.check_positive_int("batch_size", batch_size)
    num_shards = v.check_positive_int("num_shards", num_shards)
    shard_index = v.check_int("shard_index", shard_index, minimum=0,
                              maximum=num_shards - 1)
    eval_batch_size = v.check_positive_int(
        "eval_batch_size", eval_batch_size or batch_size
    )
    for name, value in (("batch_size", batch_size),
                        ("eval_batch_size", eval_batch_size)):
        if value % num_shards:
            raise ValueError(
                f"`{name}` must be divisible by the number of processes "
                f"({num_shards}). Received: {name}={value}"
            )
    v.check_bool("augment", augment)
    v.check_int("seed", seed)
    validation_seed = v.check_int(
        "validation_seed", seed if validation_seed is None
        else validation_seed
    )
    if train_subset is not None:
        train_subset = v.check_int("train_subset", train_subset, minimum=1)
    if test_subset is not None:
        test_subset = v.check_int("test_subset", test_subset, minimum=1)
    pipeline = resolve_pipeline(pipeline, dataset)
    if info.source == "idx":
        return _in_memory_splits(
            info, data_dir, batch_size, eval_batch_size, validation_split,
            validation_seed, train_subset, test_subset, steps_per_epoch,
            augment, seed, pipeline, shard_index, num_shards, initial_epoch,
        )
    return _tfds_splits(
        info, data_dir, download, batch_size, eval_batch_size,
        validation_split, validation_seed, train_subset, test_subset,
        steps_per_epoch, augment, seed, shard_index, num_shards,
    )


def _steps(steps_per_epoch, n_train, batch_size):
    if steps_per_epoch is not None:
        return v.check_positive_int("steps_per_epoch", steps_per_epoch)
    return max(1, n_train // batch_size)


def _in_memory_splits(info, data_dir, batch_size, eval_batch_size,
                      validation_split, validation_seed, train_subset,
                      test_subset, steps_per_epoch, augment, seed, pipeline,
                      shard_index, num_shards, initial_epoch):
    (x_all, y_all), (x_test, y_test) = load_fashion_mnist(data_dir)
    n_val = resolve_validation_split(
        info.name, validation_split, train_subset=train_subset,
        num_examples=len(x_all),
    )
    train_idx, val_idx = split_indices(
        len(x_all), validation_split=n_val, train_subset=train_subset,
        seed=validation_seed,
    )
    x_train, y_train = x_all[train_idx], y_all[train_idx]
    x_val, y_val = x_all[val_idx], y_all[val_idx]
    if test_subset is not None:
        x_test, y_test = x_test[:test_subset], y_test[:test_subset]
    steps = _steps(steps_per_epoch, len(x_train), batch_size)

    if pipeline == "numpy":
        train_cls, eval_cls = _Sequences.get()
        train = train_cls(
            x_train, y_train, info, batch_size=batch_size,
            steps_per_epoch=steps, seed=seed, augment=augment,
            shard_index=shard_index, num_shards=num_shards,
            initial_epoch=initial_epoch,
        )

        def evaluation(x, y):
            return eval_cls(x, y, info, batch_size=eval_batch_size,
                            shard_index=shard_index, num_shards=num_shards)
    else:
        tf = _tf()
        ds = tf.data.Dataset.from_tensor_slices((x_train, y_train))
        if num_shards > 1:
            ds = ds.shard(num_shards, shard_index)
        train = _tf_train_pipeline(
            ds, info, batch_size=batch_size // num_shards, seed=seed,
            augment=augment, buffer=len(x_train), cache=False,
        )

        def evaluation(x, y):
            ds = tf.data.Dataset.from_tensor_slices((x, y))
            return _tf_eval_pipeline(
                ds, len(x), info, batch_size=eval_batch_size // num_shards,
                shard_index=shard_index, num_shards=num_shards,
            )

    return DataSplits(
        train=train,
        validation=evaluation(x_val, y_val) if len(x_val) else None,
        test=evaluation(x_test, y_test),
        info=info,
        steps_per_epoch=steps,
        train_examples=len(x_train),
        validation_examples=len(x_val),
        test_examples=len(x_test),
        global_batch_size=batch_size,
        pipeline=pipeline,
        validation_seed=validation_seed,
        train_indices=train_idx,
        validation_indices=val_idx,
    )


def _select_tf(ds, indices, num_examples):
    """The examples of `ds` at the sorted positions `indices`, in order.

    A boolean mask over the positions filters the enumerated dataset;
    `take` stops reading after the last selected example.
    """
    tf = _tf()
    mask = np.zeros(num_examples, bool)
    mask[indices] = True
    mask = tf.constant(mask)
    ds = ds.enumerate().filter(lambda i, example: tf.gather(mask, i))
    return ds.map(lambda i, example: example).take(len(indices))


def _tfds_splits(info, data_dir, download, batch_size, eval_batch_size,
                 validation_split, validation_seed, train_subset, test_subset,
                 steps_per_epoch, augment, seed, shard_index, num_shards):
    tf = _tf()
    full = load_tfds(info.name, "train", data_dir=data_dir,
                     download=download)
    n_all = _cardinality(full, info.train_examples)
    n_val = resolve_validation_split(
        info.name, validation_split, train_subset=train_subset,
        num_examples=n_all,
    )
    train_idx, val_idx = split_indices(
        n_all, validation_split=n_val, train_subset=train_subset,
        seed=validation_seed,
    )
    n_train = len(train_idx)
    val_ds = None
    if n_val:
        # A seeded random hold-out, as for the IDX data: the positions are
        # drawn with NumPy and selected from the ordered training split.
        train_ds = _select_tf(full, train_idx, n_all)
        # The held-out images are read encoded, selected, kept in memory
        # after the first pass (5,000 CIFAR images: ~15 MB; 10,000
        # ImageNet JPEGs: ~1 GB), and decoded on every pass.
        import tensorflow_datasets as tfds

        encoded = load_tfds(
            info.name, "train", data_dir=data_dir, download=download,
            decoders={"image": tfds.decode.SkipDecoding()},
        )
        channels = info.image_shape[-1]
        static = (None, None, channels) if (
            info.augmentation == "inception") else info.image_shape

        def decode(image, label):
            image = tf.io.decode_image(image, channels=channels,
                                       expand_animations=False)
            image.set_shape(static)
            return image, label

        val_ds = _select_tf(encoded, val_idx, n_all).cache().map(
            decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
    elif n_train < n_all:
        train_ds = load_tfds(info.name, f"train[:{n_train}]",
                             data_dir=data_dir, download=download)
        n_train = _cardinality(train_ds, n_train)
    else:
        train_ds = full
    test_split = info.test_split
    if test_subset is not None:
        test_split = f"{test_split}[:{test_subset}]"
    test_ds = load_tfds(info.name, test_split, data_dir=data_dir,
                        download=download)
    n_test = _cardinality(
        test_ds, min(info.test_examples, test_subset or info.test_examples)
    )
    if num_shards > 1:
        train_ds = train_ds.shard(num_shards, shard_index)
    steps = _steps(steps_per_epoch, n_train, batch_size)
    local_eval = eval_batch_size // num_shards
    train = _tf_train_pipeline(
        train_ds, info, batch_size=batch_size // num_shards, seed=seed,
        # ImageNet: no cache, a 10k buffer of decoded images (tfds already
        # shuffled the examples when it prepared the files).
        augment=augment,
        buffer=min(n_train, 10000 if info.augmentation == "inception"
                   else 50000),
        cache=info.augmentation != "inception",
    )

    def evaluation(ds, n):
        return _tf_eval_pipeline(ds, n, info, batch_size=local_eval,
                                 shard_index=shard_index,
                                 num_shards=num_shards)

    return DataSplits(
        train=train,
        validation=evaluation(val_ds, n_val) if val_ds is not None else None,
        test=evaluation(test_ds, n_test),
        info=info,
        steps_per_epoch=steps,
        train_examples=n_train,
        validation_examples=n_val,
        test_examples=n_test,
        global_batch_size=batch_size,
        pipeline="tf.data",
        validation_seed=validation_seed,
        train_indices=train_idx,
        validation_indices=val_idx,
    )
