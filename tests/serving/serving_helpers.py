"""Helpers shared by the serving tests (fixtures live in conftest.py)."""

import json
import socket
import urllib.error
import urllib.request

import keras
import numpy as np

INPUT_SHAPE = (8, 8, 1)
CLASSES = 3
MODEL_NAME = "tiny"


def tiny_model(**kwargs):
    from keras_resvariants import ResNet20

    return ResNet20(input_shape=INPUT_SHAPE, classes=CLASSES, **kwargs)


def expected_outputs(model, x_float):
    """What a version must answer for preprocessed `x_float`: softmax
    probabilities (also for the logits model) and the argmax."""
    scores = np.asarray(model.predict(x_float, verbose=0), "float32")
    if model.layers[-1].get_config()["activation"] in (None, "linear"):
        scores = np.asarray(keras.ops.softmax(scores, axis=-1))
    return scores, np.argmax(scores, axis=-1)


def mixed_batches(count=8):
    """`count` `(version, rows)` pairs for load tests: versions 1 and 2 in
    turn, `rows` a slice of 1 to 3 of the 6 test images."""
    return [(1 + i % 2, slice(i % 6, i % 6 + 1 + i % 3))
            for i in range(count)]


def free_port():
    """A loopback TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, payload=None, timeout=60):
    """`(status, parsed JSON body)` with urllib; HTTP errors are answers."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, method=method,
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        with e:  # closes the connection the error response holds
            return e.code, json.loads(e.read())
