"""Helpers of the channels_first tests (layers and applications).

A channels_first computation is checked against the same computation in
channels_last on transposed data, so the helpers only move axes (NumPy's
own `transpose`, independent of the code under test) and set the global
format for a block of code.
"""

import contextlib
import functools

import keras
import numpy as np
import pytest


def to_cf(x):
    """NHWC -> NCHW (a NumPy array; a rank-2 array is returned as is)."""
    x = np.asarray(x)
    return x if x.ndim < 3 else np.moveaxis(x, -1, 1)


def to_cl(x):
    """NCHW -> NHWC (a NumPy array; a rank-2 array is returned as is)."""
    x = np.asarray(x)
    return x if x.ndim < 3 else np.moveaxis(x, 1, -1)


@contextlib.contextmanager
def image_data_format(data_format):
    """Sets `keras.config.image_data_format()` inside the block."""
    before = keras.config.image_data_format()
    keras.config.set_image_data_format(data_format)
    try:
        yield
    finally:
        keras.config.set_image_data_format(before)


@functools.lru_cache(maxsize=None)
def channels_first_conv_error():
    """`None` if this backend runs a channels_first convolution, else the
    error it raises.

    TensorFlow's CPU kernels run NCHW convolutions only through oneDNN
    (`TF_ENABLE_ONEDNN_OPTS=0`, or a build without it, gives
    "The Conv2D op currently only supports the NHWC tensor format on the
    CPU"); JAX runs both formats everywhere.
    """
    try:
        keras.ops.conv(np.ones((1, 2, 3, 3), "float32"),
                       np.ones((3, 3, 2, 1), "float32"), padding="same",
                       data_format="channels_first")
    except Exception as error:  # the backend's own error type
        return error
    return None


# Numerical tests of channels_first convolutions: skipped where the
# backend's kernels cannot run them (the builds are tested regardless).
needs_channels_first_conv = pytest.mark.skipif(
    channels_first_conv_error() is not None,
    reason="this backend's CPU kernels cannot run channels_first "
    "convolutions (TensorFlow without oneDNN); the JAX run covers them",
)
