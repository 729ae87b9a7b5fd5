"""Tiny published weights for the weights tests, made with the publish
tool from a fabricated training run (no download, no real training).

The network is `ResNetCifar(depth=26, width=1/16)` (4-channel stem, about
60k parameters); its weights, BN statistics included, are random draws, so
a wrong or partial load shows in every comparison.
"""

import dataclasses
import gzip
import json
import os
import shutil

import keras
import numpy as np

import keras_resvariants as kr
from keras_resvariants import publishing as publish

ARCH = "resnet_cifar"
TAG = "fashion_mnist"
NAME = f"{ARCH}.{TAG}"
HPARAMS = {"depth": 26, "width": 0.0625}
SHAPE = (28, 28, 1)
TEST_IMAGES = 64


@dataclasses.dataclass
class Published:
    """What `make_published` leaves on disk, and reference outputs of the
    source model computed before publishing."""

    root: str
    run_dir: str
    weights_dir: str
    records: str
    data_dir: str
    record: object
    x: np.ndarray  # preprocessed inputs
    top: np.ndarray  # the source model's outputs on `x`
    notop: np.ndarray  # its features (no head) on `x`
    source_weights: dict  # relative variable path -> value
    test_images: np.ndarray
    test_labels: np.ndarray


def randomize(model, seed=0):
    """Random values in every variable (variances positive)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = rng.normal(0.0, 0.1, tuple(w.shape)).astype("float32")
        if w.path.endswith("variance"):
            value = np.abs(value) + 0.5
        w.assign(value)


def weights_by_path(model, skip=()):
    """`{path relative to its layer: value}` over `model.layers`."""
    out = {}
    for layer in model.layers:
        if layer.name in skip:
            continue
        for w in layer.weights:
            path = w.path[w.path.find(f"{layer.name}/"):]
            out[path] = keras.ops.convert_to_numpy(w)
    return out


def write_idx(path, array):
    array = np.ascontiguousarray(array, np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def make_fashion_mnist(data_dir, rng):
    """A fake Fashion-MNIST in IDX format: 16 training, 64 test images."""
    os.makedirs(data_dir, exist_ok=True)
    sizes = {"train": 16, "t10k": TEST_IMAGES}
    arrays = {}
    for split, n in sizes.items():
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, (n,), dtype=np.uint8)
        write_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"),
                  images)
        write_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"),
                  labels)
        arrays[split] = (images[..., None], labels.astype("int32"))
    return arrays["t10k"]


def make_run(run_dir, *, arch=ARCH, hparams=HPARAMS, seed=0):
    """A fabricated `resvariants train` output directory; returns the
    source model."""
    os.makedirs(run_dir, exist_ok=True)
    model = kr.create_model(arch, input_shape=SHAPE, classes=10, **hparams)
    randomize(model, seed)
    model.save(os.path.join(run_dir, "last.keras"))
    run_config = {
        "model": arch,
        "model_kwargs": dict(hparams),
        "dataset": "fashion_mnist",
        # The recipe's model_kwargs the network does not accept are
        # dropped, as `train()` drops them.
        "recipe": {"name": "quick", "model_kwargs": {"dropout": 0.1},
                   "optimizer": "sgd", "momentum": 0.9, "nesterov": True,
                   "learning_rate": 0.1, "schedule": "cosine",
                   "weight_decay": 5e-4, "augmentation": "standard"},
        "epochs": 1,
        "global_batch_size": 128,
        "seed": 0,
        "train_subset": None,
        "validation_split": 0.0,
    }
    metrics = {
        "test_accuracy": 0.125,
        "test_loss": 2.3,
        "test_examples": TEST_IMAGES,
        "train_examples": 16,
        "backend": keras.backend.backend(),
        "command": f"resvariants train --model {arch} (fabricated)",
        "finished_at": "2026-01-01T00:00:00+0000",
        "versions": {"keras": keras.__version__},
    }
    with open(os.path.join(run_dir, "run_config.json"), "w") as f:
        json.dump(run_config, f)
    with open(os.path.join(run_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f)
    return model


def make_published(root):
    rng = np.random.default_rng(0)
    root = str(root)
    data_dir = os.path.join(root, "fashion_mnist")
    images, labels = make_fashion_mnist(data_dir, rng)
    run_dir = os.path.join(root, "run")
    source = make_run(run_dir)
    weights_dir = os.path.join(root, "saved_models")
    records = os.path.join(root, "records.json")
    record = publish.publish(run_dir, TAG, output=weights_dir,
                             records=records, data_dir=data_dir,
                             command="publish (test)")
    mean, std = np.float32(0.2860), np.float32(0.3530)
    x = (images[:8].astype("float32") / np.float32(255.0) - mean) / std
    features = keras.Model(source.input,
                           source.get_layer("avg_pool").input)
    return Published(
        root=root, run_dir=run_dir, weights_dir=weights_dir,
        records=records, data_dir=data_dir, record=record, x=x,
        top=keras.ops.convert_to_numpy(source(x, training=False)),
        notop=keras.ops.convert_to_numpy(features(x, training=False)),
        source_weights=weights_by_path(source),
        test_images=images, test_labels=labels,
    )


def copy_weights(published, directory):
    """Copies the published files into `directory`; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    out = []
    for entry in (published.record.top, published.record.notop):
        path = os.path.join(directory, entry.name)
        shutil.copyfile(os.path.join(published.weights_dir, entry.name),
                        path)
        out.append(path)
    return out
