"""Every published record's accuracy, re-measured: its weights loaded by
tag, its own preprocessing, the full Fashion-MNIST test set."""

import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants import data

FASHION = [name for name in kr.list_weights()
           if kr.weights_info(name).dataset == "fashion_mnist"]
# One record in the default suite (about 15 s); the others (20-90 s each on
# 2 cores) with `-m slow`.
QUICK = "resnet_20.fashion_mnist"


@pytest.fixture(scope="module")
def test_set():
    try:
        _, (x, y) = data.load_fashion_mnist()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    return x, y


def test_every_fashion_mnist_record_is_checked():
    assert len(FASHION) == len(kr.list_weights()) and FASHION


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=() if n == QUICK else pytest.mark.slow)
    for n in FASHION])
def test_recorded_accuracy_re_measures_equal(name, test_set):
    x, y = test_set
    record = kr.weights_info(name)
    model = kr.create_model(record.arch, weights=record.tag)
    probabilities = model.predict(kr.preprocess_input(x, name),
                                  batch_size=500, verbose=0)
    accuracy = float(np.mean(np.argmax(probabilities, axis=-1) == y))
    # The record was measured the same way; 1e-4 is one image of 10,000.
    assert accuracy == pytest.approx(record.test_accuracy, abs=1e-4)
