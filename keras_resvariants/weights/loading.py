"""Finding, checking and loading published weights.

A record's file is looked for, in order, in

1. `$KERAS_RESVARIANTS_WEIGHTS_DIR`;
2. the repository's `saved_models/` next to the package (an editable
   install of a checkout);
3. Keras' cache, `$KERAS_HOME/models/keras_resvariants/` (`~/.keras` by
   default);
4. and is otherwise downloaded into that cache with
   `keras.utils.get_file(..., file_hash=sha256)` from the record's
   `base_url` (or `$KERAS_RESVARIANTS_WEIGHTS_URL`, which overrides it).

Every local file is checked against the record's sha256 (`get_file` checks
downloads), and the network's weight structure against the record's
fingerprint, before any variable is assigned.
"""

import contextlib
import contextvars
import hashlib
import logging
import os

import keras

from keras_resvariants.weights import registry
from keras_resvariants.weights.fingerprint import fingerprint

WEIGHTS_DIR_ENV = "KERAS_RESVARIANTS_WEIGHTS_DIR"
BASE_URL_ENV = "KERAS_RESVARIANTS_WEIGHTS_URL"
CACHE_SUBDIR = "models/keras_resvariants"
REPO_WEIGHTS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))),
    "saved_models",
)
# Layers that start the head, in the order to look for them: the RiR
# conv head starts with `predictions_conv` (then `avg_pool`).
_HEAD_STARTS = ("predictions_conv", "avg_pool", "max_pool")

logger = logging.getLogger("keras_resvariants.weights")


def sha256_file(path):
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir():
    """Keras' cache directory (`$KERAS_HOME`, default `~/.keras`)."""
    return os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras")


# The directory of a `use_weights_dir` block (this thread or task only).
_DIR_OVERRIDE = contextvars.ContextVar("weights_dir_override", default=None)


@contextlib.contextmanager
def use_weights_dir(path):
    """Inside the block, weights files are looked for in `path` first: the
    in-process form of `$KERAS_RESVARIANTS_WEIGHTS_DIR`, without touching
    the environment (and local to the current thread or asyncio task)."""
    token = _DIR_OVERRIDE.set(os.fspath(path))
    try:
        yield
    finally:
        _DIR_OVERRIDE.reset(token)


def search_dirs():
    """Local directories searched before Keras' cache, in order: a
    `use_weights_dir` block's, `$KERAS_RESVARIANTS_WEIGHTS_DIR`, the
    repository's `weights/`."""
    dirs = []
    if _DIR_OVERRIDE.get():
        dirs.append(_DIR_OVERRIDE.get())
    if os.environ.get(WEIGHTS_DIR_ENV):
        dirs.append(os.environ[WEIGHTS_DIR_ENV])
    if os.path.isdir(REPO_WEIGHTS_DIR):
        dirs.append(REPO_WEIGHTS_DIR)
    return dirs


def resolve_weights_file(weights, include_top=True):
    """Path of a record's top or no-top file, checked against its sha256.

    Args:
        weights: `"arch.tag"` or a `WeightsRecord`.
        include_top: bool. The file with the head (`True`) or without.

    Returns:
        A local path (downloaded into Keras' cache if needed).

    Raises:
        ValueError: a local file's sha256 differs from the record's, or a
            download's does.
        FileNotFoundError: the file is nowhere and there is no URL to
            download it from.
    """
    record = registry.weights_info(weights)
    entry = record.file(include_top)
    for directory in search_dirs():
        path = os.path.join(directory, entry.name)
        if os.path.isfile(path):
            _verify(path, record, entry)
            return path
    cached = os.path.join(cache_dir(), CACHE_SUBDIR, entry.name)
    base_url = os.environ.get(BASE_URL_ENV) or record.base_url
    if not base_url:
        if os.path.isfile(cached):
            _verify(cached, record, entry)
            return cached
        places = [*search_dirs(), os.path.dirname(cached)]
        raise FileNotFoundError(
            f"The weights file {entry.name!r} of {record.name} was not found "
            f"in {', '.join(repr(p) for p in places)}, and the record has no "
            f"download URL. Put the file in one of these directories (or "
            f"set ${WEIGHTS_DIR_ENV} to its directory), or set "
            f"${BASE_URL_ENV} to a URL prefix that serves it."
        )
    origin = base_url if base_url.endswith("/") else base_url + "/"
    # get_file falls back to /tmp/.keras when the directory is missing.
    os.makedirs(cache_dir(), exist_ok=True)
    try:
        return keras.utils.get_file(
            entry.name,
            origin=origin + entry.name,
            file_hash=entry.sha256,
            hash_algorithm="sha256",
            cache_subdir=CACHE_SUBDIR,
            cache_dir=cache_dir(),
        )
    except ValueError as error:
        if os.path.isfile(cached):
            os.remove(cached)  # do not leave a corrupted file in the cache
        raise ValueError(
            f"The downloaded weights file {origin + entry.name!r} of "
            f"{record.name} does not have the recorded sha256 "
            f"{entry.sha256}; it was deleted. ({error})"
        ) from error


def _verify(path, record, entry):
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ValueError(
            f"The weights file {path!r} of {record.name} has sha256 "
            f"{actual}, but the record expects {entry.sha256}. The file is "
            "corrupted or belongs to other weights: replace it with the "
            "published file, or delete it to download it again."
        )


def load_pretrained(model, weights, *, _image=None):
    """Loads published weights into a model built by a builder.

    With the head when the model has one with the weights' class count;
    otherwise (a `classes` different from the weights', or
    `include_top=False`) only the network without its head, from the
    no-top file, and a head, if any, keeps its initial values: this is
    logged as a warning. Nothing is assigned unless the input shape, the
    weight structure (fingerprint) and the file's sha256 all match.

    Args:
        model: a `keras.Model` from a `keras_resvariants` builder, built
            with the weights' hyperparameters.
        weights: `"arch.tag"` or a `WeightsRecord`.

    Returns:
        `True` if the head was loaded, `False` if not.

    Raises:
        ValueError: incompatible input shape, mismatched architecture
            (fingerprint) or file checksum.

    Example:

    >>> model = keras_resvariants.ResNet20(input_shape=(28, 28, 1),
    ...                                    classes=10)
    >>> keras_resvariants.weights.load_pretrained(
    ...     model, "resnet_20.fashion_mnist")
    True
    """
    record = registry.weights_info(weights)
    image = _image if _image is not None else model.inputs[0]
    names = {layer.name for layer in model.layers}
    has_top = "predictions" in names
    features = features_output(model)
    classes = int(model.outputs[0].shape[-1]) if has_top else None
    load_head = has_top and classes == record.classes
    check_input_shape(record, tuple(image.shape[1:]), include_top=has_top)

    target_output = model.outputs[0] if load_head else features
    target = submodel(model, image, target_output)
    entry = record.file(load_head)
    actual = fingerprint(target)
    if actual != entry.fingerprint:
        part = "network with its head" if load_head else "network without " \
            "its head"
        raise ValueError(
            f"`weights`={record.name!r} do not fit this model: the weight "
            f"structure of its {part} (fingerprint {actual[:12]}…) differs "
            f"from the one the weights were saved from "
            f"({entry.fingerprint[:12]}…). The weights need "
            f"{record.arch} with hyperparameters "
            f"{record.hyperparameters or '{} (the defaults)'} and "
            f"{record.input_shape[-1]} input channel(s). If the model is "
            "exactly that, this version of keras_resvariants builds the "
            "network differently from the one that published the weights: "
            "publish them again (python -m keras_resvariants.weights."
            "publish) or use that version."
        )
    path = resolve_weights_file(record, include_top=load_head)
    target.load_weights(path)
    if has_top and not load_head:
        logger.warning(
            "Loaded %s without its head: the model has classes=%d and the "
            "weights %d, so the classification head ('predictions') was "
            "NOT loaded and keeps its random initialization. Train it "
            "before use (see keras_resvariants.fine_tune).",
            record.name, classes, record.classes,
        )
    return load_head


def check_input_shape(record, shape, *, include_top, data_format=None):
    """Raises `ValueError` unless `shape` fits the weights: same channels;
    with the head, also the same height and width. `shape` is in
    `data_format` (default `keras.config.image_data_format()`); the
    record's `input_shape` is `(height, width, channels)`.
    """
    data_format = data_format or keras.config.image_data_format()
    shape = tuple(shape)
    expected = tuple(record.input_shape)
    if data_format == "channels_first":
        channels, size = shape[0], shape[1:]
        shown = (expected[-1], *expected[:2])
    else:
        channels, size = shape[-1], shape[:2]
        shown = expected
    if channels != expected[-1]:
        raise ValueError(
            f"`input_shape` must have {expected[-1]} channel(s) to use "
            f"`weights`={record.name!r}, which were trained on "
            f"{shown} inputs ({data_format}). Received: "
            f"input_shape={shape!r}"
        )
    if include_top and tuple(size) != tuple(expected[:2]):
        raise ValueError(
            f"`input_shape` must be {shown!r} ({data_format}) to use "
            f"`weights`={record.name!r} with `include_top=True` (use "
            "`include_top=False` for another size). Received: "
            f"input_shape={shape!r}"
        )


def features_output(model):
    """The output of a registry network without its head (or pooling): the
    tensor `include_top=False` returns."""
    names = {layer.name for layer in model.layers}
    for name in _HEAD_STARTS:
        if name in names:
            return model.get_layer(name).input
    return model.outputs[0]


def submodel(model, image, output):
    """`model` itself when `(image, output)` are its input and output, else
    the functional model between them."""
    if image is model.inputs[0] and output is model.outputs[0]:
        return model
    return keras.Model(image, output)
