"""Shared, built-once fixtures for the export and serving tests.

Two tiny classifiers on 8x8x1 images with 3 classes, exported once per
session as versions 1 and 2 of model "tiny", so every serving test can tell
which version answered: ResNet-20 from the registry (softmax head) and a
one-conv network ending in logits (cheap to export; tests the added
softmax).
"""

import os

import keras
import numpy as np
import pytest

from tests.serving.serving_helpers import CLASSES
from tests.serving.serving_helpers import INPUT_SHAPE
from tests.serving.serving_helpers import MODEL_NAME
from tests.serving.serving_helpers import expected_outputs
from tests.serving.serving_helpers import tiny_model


@pytest.fixture(scope="session")
def prep():
    from keras_resvariants.preprocessing import Preprocessing

    return Preprocessing(mean=(0.3,), std=(0.35,))


@pytest.fixture(scope="session")
def models():
    """`{1: softmax model, 2: logits model}`, with BN statistics moved off
    their initial values so the two versions answer differently."""
    keras.utils.set_random_seed(7)
    x = keras.Input(INPUT_SHAPE, name="image")
    h = keras.layers.Conv2D(4, 3, name="conv")(x)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(h)
    logits = keras.layers.Dense(CLASSES, name="predictions")(h)
    built = {1: tiny_model(name="tiny_softmax"),
             2: keras.Model(x, logits, name="tiny_logits")}
    rng = np.random.default_rng(0)
    for model in built.values():
        for weight in model.weights:
            if "moving_mean" in weight.path:
                weight.assign(rng.normal(0, 0.1, weight.shape))
    return built


@pytest.fixture(scope="session")
def images():
    """Raw uint8 pixels, 6 images."""
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (6, 8, 8, 1)).astype("uint8")


@pytest.fixture(scope="session")
def expected(models, images, prep):
    """Per version: (probabilities, class ids) from `model.predict` for the
    6 test images."""
    return {n: expected_outputs(models[n], prep.numpy(images))
            for n in (1, 2)}


@pytest.fixture(scope="session")
def export_root(tmp_path_factory, models, prep):
    """`ROOT/tiny/1` (softmax model) and `ROOT/tiny/2` (logits model)."""
    from keras_resvariants.serving import export_saved_model

    root = str(tmp_path_factory.mktemp("exported"))
    for version in (1, 2):
        export_saved_model(models[version], root, name=MODEL_NAME,
                           preprocessing=prep)
    return root


@pytest.fixture(scope="session")
def model_base_path(export_root):
    return os.path.join(export_root, MODEL_NAME)
