"""Model costs: parameter counts, and multiply-accumulate counts of conv
and dense layers (the papers' FLOPs).

The papers' FLOPs are multiply-accumulates of convolutions and fully
connected layers (docs/design.md); normalisation, activations, pooling and
merges are not counted. Our layers are counted by the arithmetic they
define, not by how they are implemented (a masked dense kernel counts only
its unmasked taps).
"""

import functools
import math

import keras

from keras_resvariants import layers as L


def count_parameters(model):
    """Parameter counts of a built model (or layer), as the papers count
    them: every weight's size; `trainable` is the papers' number.

    Returns:
        `{"trainable": int, "non_trainable": int, "total": int}`.
    """
    def size(weights):
        return int(sum(math.prod(w.shape) for w in weights))

    trainable = size(model.trainable_weights)
    non_trainable = size(model.non_trainable_weights)
    return {"trainable": trainable, "non_trainable": non_trainable,
            "total": trainable + non_trainable}


def count_macs(model):
    """Total multiply-accumulates of one forward pass of one example.

    Args:
        model: a built functional `keras.Model` with static spatial input.

    Returns:
        int.
    """
    total = 0
    for layer in model.layers:
        total += layer_macs(layer)
    return int(total)


def _first(layer):
    return getattr(layer, "data_format", None) == "channels_first"


def _channels(tensor, layer):
    """The channel count of `tensor`, an input or output of `layer`."""
    return tensor.shape[1] if _first(layer) else tensor.shape[-1]


def _spatial(tensor, layer=None):
    shape = tuple(tensor.shape)
    size = shape[2:] if layer is not None and _first(layer) else shape[1:-1]
    if any(d is None for d in size):
        raise ValueError(
            "count_macs needs static height and width. Received a model "
            f"with an input/output shape {shape}; build it with a static "
            "`input_shape`."
        )
    return math.prod(size)


def _inputs(layer):
    inputs = layer.input
    return inputs if isinstance(inputs, (list, tuple)) else [inputs]


def _outputs(layer):
    outputs = layer.output
    return outputs if isinstance(outputs, (list, tuple)) else [outputs]


@functools.singledispatch
def layer_macs(layer):
    """MACs of one layer (0 for layers without conv/dense arithmetic)."""
    return 0


@layer_macs.register
def _(layer: keras.layers.Conv2D):
    c_in = _channels(_inputs(layer)[0], layer)
    kh, kw = layer.kernel_size
    out = _outputs(layer)[0]
    return (_spatial(out, layer) * kh * kw * (c_in // layer.groups)
            * layer.filters)


@layer_macs.register
def _(layer: keras.layers.Dense):
    return _inputs(layer)[0].shape[-1] * layer.units


@layer_macs.register
def _(layer: L.BridgeSE):
    channels = _channels(_inputs(layer)[0], layer)
    return 2 * channels * (channels // layer.reduction)


@layer_macs.register
def _(layer: L.RiRConv):
    inputs = _inputs(layer)
    if layer.residual_channels is None:  # [r, m]
        c_r = _channels(inputs[0], layer)
        c_in = c_r + _channels(inputs[1], layer)
    else:  # concat(r, m), or [concat(r, m), outer]
        c_r = layer.residual_channels
        c_in = _channels(inputs[0], layer)
    out = _outputs(layer)[0]
    k = layer.kernel_size
    c_out = layer.filters_r + layer.filters_m
    macs = _spatial(out, layer) * k * k * c_in * c_out
    if layer.shortcut == "projection":
        macs += _spatial(out, layer) * c_r * layer.filters_r
    return macs


@layer_macs.register
def _(layer: L.SeqConv2D):
    x = _inputs(layer)[0]
    c_in = _channels(x, layer)
    k = layer.group_width
    ks = layer.kernel_size if isinstance(layer.kernel_size, int) else (
        layer.kernel_size[0])
    window = c_in if layer.window == "auto" else layer.window
    per_pixel = 0
    for i in range(layer.filters // k):
        seen = c_in + i * k
        view = seen if window is None else min(window, seen)
        if layer.bottleneck:
            per_pixel += view * k + ks * ks * k * k // layer.subgroups
        else:
            per_pixel += ks * ks * view * k
    return _spatial(x, layer) * per_pixel
