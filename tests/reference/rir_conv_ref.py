"""NumPy reference for `RiRConv` (Targ et al. 2016, Eq. 1), stream by stream.

Written independently of the layer: four separate naive convolutions (one per
stream pair), an explicit shortcut, and a separate BatchNorm per stream, all
in float64. The layer instead runs one convolution over `concat(r, m)` with
the shortcut folded into the kernel and one BN over both streams.
"""

import numpy as np


def same_padding(size, kernel_size, stride):
    """(before, after) padding of Keras' `"same"` mode along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def conv2d_same(x, w, stride):
    """Naive NHWC convolution, `"same"` padding, one output pixel at a time."""
    n, h, wd, _ = x.shape
    k = w.shape[0]
    pads_h = same_padding(h, k, stride)
    pads_w = same_padding(wd, k, stride)
    xp = np.pad(x, ((0, 0), pads_h, pads_w, (0, 0)))
    out_h, out_w = -(-h // stride), -(-wd // stride)
    out = np.zeros((n, out_h, out_w, w.shape[-1]))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(i * stride, i * stride + k)
            cols = slice(j * stride, j * stride + k)
            out[:, i, j, :] = np.einsum("nabc,abcf->nf", xp[:, rows, cols], w)
    return out


def centre_subsample(x, kernel_size, stride):
    """Pixels under the centre tap of a `"same"` strided conv.

    Output pixel `i` of the convolution is centred on input pixel
    `i * stride - pad_before + kernel_size // 2`; the option A/B shortcuts
    of `RiRConv` read exactly those pixels.
    """
    index = []
    for axis in (1, 2):
        size = x.shape[axis]
        out = -(-size // stride)
        before, _ = same_padding(size, kernel_size, stride)
        index.append(np.arange(out) * stride - before + kernel_size // 2)
    return x[:, index[0]][:, :, index[1]]


def identity_shortcut(r, filters_r, kernel_size, stride):
    """Option A: subsample, then zero-pad channels up to `filters_r`."""
    s = centre_subsample(r, kernel_size, stride)
    extra = filters_r - s.shape[-1]
    assert extra >= 0
    return np.pad(s, ((0, 0), (0, 0), (0, 0), (0, extra)))


def projection_shortcut(r, projection, kernel_size, stride):
    """Option B: a 1x1 convolution `(C_r, F_r)` of the subsampled input."""
    s = centre_subsample(r, kernel_size, stride)
    return np.einsum("nhwc,cf->nhwf", s, projection)


def batch_norm(x, gamma, beta, mean, variance, epsilon):
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def centre_identity(shape, n):
    """Kernel of `shape` that is 1 at the centre tap for j -> j, j < n."""
    d = np.zeros(shape)
    c = shape[0] // 2
    d[c, c, np.arange(n), np.arange(n)] = 1.0
    return d


def rir_conv(
    r,
    m,
    w_rr,
    w_mr,
    w_rm,
    w_mm,
    *,
    stride,
    shortcut,
    gamma,
    beta,
    moving_mean,
    moving_variance,
    epsilon,
    training,
    projection=None,
    bias=None,
    activation="relu",
    residual_add=None,
    transient_add=None,
):
    """Returns `(r', m')` of Eq. 1 with ReLU(BN(.)) as the nonlinearity.

    `residual_add` and `transient_add`, if given, are added to the residual
    and transient streams after their BN and before their ReLU (where an
    RiR block's outer shortcut joins); `activation=None` returns both
    streams before the ReLU.

    `w_ab` maps stream `a` to stream `b` (kernel `(k, k, C_a, F_b)`); `gamma`,
    `beta`, `moving_*` and `bias` hold `F_r` residual entries then `F_m`
    transient ones. With `training=True` each stream is normalised with its
    own batch statistics (biased variance, as Keras does).
    """
    r = np.asarray(r, np.float64)
    m = np.asarray(m, np.float64)
    k = w_rr.shape[0]
    filters_r = w_rr.shape[-1]
    pre_r = conv2d_same(r, w_rr, stride) + conv2d_same(m, w_mr, stride)
    pre_m = conv2d_same(r, w_rm, stride) + conv2d_same(m, w_mm, stride)
    if shortcut == "identity":
        pre_r = pre_r + identity_shortcut(r, filters_r, k, stride)
    elif shortcut == "projection":
        pre_r = pre_r + projection_shortcut(r, projection, k, stride)
    else:
        assert shortcut is None
    outputs = []
    parts = (slice(0, filters_r), slice(filters_r, None))
    adds = (residual_add, transient_add)
    for pre, part, add in zip((pre_r, pre_m), parts, adds):
        if bias is not None:
            pre = pre + bias[part]
        if training:
            mean, variance = pre.mean(axis=(0, 1, 2)), pre.var(axis=(0, 1, 2))
        else:
            mean, variance = moving_mean[part], moving_variance[part]
        y = batch_norm(pre, gamma[part], beta[part], mean, variance, epsilon)
        if add is not None:
            y = y + add
        outputs.append(np.maximum(y, 0.0) if activation == "relu" else y)
    return tuple(outputs)
