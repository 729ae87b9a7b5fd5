"""What the package knows about its datasets, as data.

`DATASETS` holds each dataset's shape, classes, split sizes and per-channel
statistics; `Preprocessing` is the input transform
`(pixels / scale - mean) / std` that our pipelines apply and that every
published weights record carries. Both are plain data the builders, the
weights registry and the workflows read; loading the data itself is
`keras_resvariants.data`'s job.
"""

import dataclasses

import keras
import numpy as np

from keras_resvariants import _validation as v


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What the pipelines need to know about a dataset.

    Attributes:
        name: dataset name (`DATASETS` key).
        image_shape: `(height, width, channels)` fed to the network.
        num_classes: number of classes.
        mean, std: per-channel statistics of the training split in [0, 1]
            pixel units, used for normalisation.
        train_examples, test_examples: split sizes.
        source: `"idx"` (local IDX files) or `"tfds"`.
        augmentation: `"crop_flip"` or `"inception"`.
        crop_padding: zero padding (pixels) before the random crop.
        test_split: tfds split used for testing.
        auto_validation: training examples `validation_split="auto"`
            holds out for validation (see `resolve_validation_split`).
    """

    name: str
    image_shape: tuple
    num_classes: int
    mean: tuple
    std: tuple
    train_examples: int
    test_examples: int
    source: str
    augmentation: str = "crop_flip"
    crop_padding: int = 4
    test_split: str = "test"
    auto_validation: int = 5000


DATASETS = {
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", (28, 28, 1), 10, (0.2860,), (0.3530,),
        60000, 10000, "idx",
    ),
    "cifar10": DatasetInfo(
        "cifar10", (32, 32, 3), 10, (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616), 50000, 10000, "tfds",
    ),
    "cifar100": DatasetInfo(
        "cifar100", (32, 32, 3), 100, (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762), 50000, 10000, "tfds",
    ),
    "imagenet2012": DatasetInfo(
        "imagenet2012", (224, 224, 3), 1000, (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225), 1281167, 50000, "tfds",
        augmentation="inception", test_split="validation",
        auto_validation=10000,
    ),
}


def get_dataset_info(name):
    """Returns the `DatasetInfo` of `name` (a `DATASETS` key)."""
    v.check_choice("dataset", name, tuple(DATASETS))
    return DATASETS[name]


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """`(x / scale - mean) / std`, per channel (channels last).

    Attributes:
        mean, std: per-channel statistics in `[0, 1]` pixel units (one value
            per input channel).
        scale: the raw pixel value that maps to 1 (255 for 8-bit images).
    """

    mean: tuple
    std: tuple
    scale: float = 255.0

    def __post_init__(self):
        mean = tuple(float(m) for m in np.ravel(self.mean))
        std = tuple(float(s) for s in np.ravel(self.std))
        if not mean or len(mean) != len(std):
            raise ValueError(
                "`mean` and `std` must have one value per channel and the "
                f"same length. Received: mean={self.mean!r}, "
                f"std={self.std!r}"
            )
        if any(not s > 0 for s in std):
            raise ValueError(
                f"`std` must be positive. Received: std={self.std!r}"
            )
        v.check_positive_float("scale", self.scale)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "scale", float(self.scale))

    @property
    def channels(self):
        return len(self.mean)

    def __call__(self, x):
        """Applies the transform with `keras.ops` (any backend); returns
        float32."""
        x = keras.ops.cast(x, "float32")
        mean = np.asarray(self.mean, "float32")
        std = np.asarray(self.std, "float32")
        return (x / self.scale - mean) / std

    def numpy(self, x):
        """The same transform in NumPy (float32)."""
        x = np.asarray(x, "float32")
        mean = np.asarray(self.mean, "float32")
        std = np.asarray(self.std, "float32")
        return (x / np.float32(self.scale) - mean) / std

    def to_config(self):
        return {"mean": list(self.mean), "std": list(self.std),
                "scale": self.scale}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
