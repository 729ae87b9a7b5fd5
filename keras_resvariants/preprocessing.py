"""Input preprocessing: raw pixels to what a trained network expects.

Our training pipelines (`keras_resvariants.data`) feed networks
`(pixels / 255 - mean) / std` per channel, with the training split's
statistics. A `Preprocessing` records that transform, so that weights,
exported SavedModels and `preprocess_input` apply exactly the transform the
weights were trained with.
"""

import dataclasses

import keras
import numpy as np

from keras_resvariants import _validation as v


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


def get_preprocessing(preprocessing):
    """Resolves `preprocessing` to a `Preprocessing`.

    Accepts a `Preprocessing`, its config dict, the name (`"arch.tag"`,
    e.g. `"resnet_20.fashion_mnist"`) or `WeightsRecord` of published
    weights (their recorded preprocessing), or a dataset name of
    `keras_resvariants.data.DATASETS` (e.g. `"fashion_mnist"`).
    """
    if isinstance(preprocessing, Preprocessing):
        return preprocessing
    if isinstance(preprocessing, dict):
        return Preprocessing.from_config(preprocessing)
    from keras_resvariants import data
    from keras_resvariants.weights import registry

    if isinstance(preprocessing, registry.WeightsRecord):
        return preprocessing.preprocessing
    if isinstance(preprocessing, str) and preprocessing in data.DATASETS:
        info = data.DATASETS[preprocessing]
        return Preprocessing(info.mean, info.std)
    if isinstance(preprocessing, str) and (
        preprocessing in registry.list_weights()
    ):
        return registry.weights_info(preprocessing).preprocessing
    raise ValueError(
        "`preprocessing` must be a Preprocessing, its config dict, the name "
        "of published weights (`arch.tag`; published: "
        f"{', '.join(registry.list_weights()) or 'none'}) or one of the "
        f"dataset names {tuple(data.DATASETS)}. Received: "
        f"preprocessing={preprocessing!r}"
    )


def preprocess_input(x, preprocessing="fashion_mnist"):
    """Raw images (`uint8` or float in `[0, 255]`, channels last) to network
    inputs, like `keras.applications.*.preprocess_input`.

    Each set of published weights records the transform it was trained
    with; pass its name to apply exactly that transform.

    Args:
        x: images, `(..., height, width, channels)`.
        preprocessing: what the weights were trained with: the name of
            published weights (`"resnet_20.fashion_mnist"`) or their
            `WeightsRecord`, a dataset name, a `Preprocessing` or its
            config. Defaults to `"fashion_mnist"` (the dataset's
            statistics).

    Returns:
        A float32 tensor of the shape of `x` (`keras.ops`, any backend).

    Example:

    >>> images = np.full((2, 28, 28, 1), 255, "uint8")
    >>> x = keras_resvariants.preprocess_input(
    ...     images, "resnet_20.fashion_mnist")
    >>> round(float(x[0, 0, 0, 0]), 3)  # (1 - 0.286) / 0.353
    2.023
    """
    return get_preprocessing(preprocessing)(x)
