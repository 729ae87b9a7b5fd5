"""Input preprocessing: raw pixels to what a trained network expects.

Our training pipelines (`keras_resvariants.data`) feed networks
`(pixels / 255 - mean) / std` per channel, with the training split's
statistics. A `Preprocessing` records that transform, so that weights,
exported SavedModels and `preprocess_input` apply exactly the transform the
weights were trained with.
"""

from keras_resvariants.datasets import DATASETS
from keras_resvariants.datasets import Preprocessing
from keras_resvariants.weights import registry

__all__ = ["Preprocessing", "get_preprocessing", "preprocess_input"]


def get_preprocessing(preprocessing):
    """Resolves `preprocessing` to a `Preprocessing`.

    Accepts a `Preprocessing`, its config dict, the name (`"arch.tag"`,
    e.g. `"resnet_20.fashion_mnist"`) or `WeightsRecord` of published
    weights (their recorded preprocessing), or a dataset name of
    `keras_resvariants.datasets.DATASETS` (e.g. `"fashion_mnist"`).
    """
    if isinstance(preprocessing, Preprocessing):
        return preprocessing
    if isinstance(preprocessing, dict):
        return Preprocessing.from_config(preprocessing)
    if isinstance(preprocessing, registry.WeightsRecord):
        return preprocessing.preprocessing
    if isinstance(preprocessing, str) and preprocessing in DATASETS:
        info = DATASETS[preprocessing]
        return Preprocessing(info.mean, info.std)
    if isinstance(preprocessing, str) and (
        preprocessing in registry.list_weights()
    ):
        return registry.weights_info(preprocessing).preprocessing
    raise ValueError(
        "`preprocessing` must be a Preprocessing, its config dict, the name "
        "of published weights (`arch.tag`; published: "
        f"{', '.join(registry.list_weights()) or 'none'}) or one of the "
        f"dataset names {tuple(DATASETS)}. Received: "
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
