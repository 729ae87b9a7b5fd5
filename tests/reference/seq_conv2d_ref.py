"""NumPy reference for `SeqConv2D`, written from SeqConv Eq. 1-2 and
`docs/design.md#seqconv`.

Deliberately naive: a Python loop over the groups that literally builds
`S_i = concat(x0, a_1, ..., a_{i-1})`, takes its last `W` channels, and a
convolution that loops over output pixels. Everything runs in float64.
"""

import numpy as np


def conv2d_same(x, kernel, groups=1):
    """Stride-1 convolution with zero "same" padding (odd kernels).

    `x`: `(n, h, w, c)`; `kernel`: `(kh, kw, c / groups, out)`. With
    `groups > 1`, output channels `[j out/groups, (j+1) out/groups)` see
    only input channels `[j c/groups, (j+1) c/groups)`.
    """
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    n, h, w, c = x.shape
    kh, kw, c_group, out = kernel.shape
    assert c == c_group * groups and out % groups == 0
    out_group = out // groups
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    y = np.zeros((n, h, w, out))
    for j in range(groups):
        xs = padded[..., j * c_group : (j + 1) * c_group]
        ks = kernel[..., j * out_group : (j + 1) * out_group]
        for row in range(h):
            for col in range(w):
                patch = xs[:, row : row + kh, col : col + kw, :]
                y[:, row, col, j * out_group : (j + 1) * out_group] = (
                    np.tensordot(patch, ks, axes=([1, 2, 3], [0, 1, 2]))
                )
    return y


def bn_relu(z, gamma, beta, mean, var, epsilon):
    """ReLU(BatchNorm(z)) over the last axis; batch statistics (biased
    variance) when `mean` and `var` are None. Returns (a, mean, var)."""
    if mean is None:
        mean = z.mean(axis=(0, 1, 2))
        var = z.var(axis=(0, 1, 2))
    y = (z - mean) / np.sqrt(var + epsilon) * gamma + beta
    return np.maximum(y, 0.0), mean, var


def view_widths(c_in, filters, group_width, window):
    """`w_i`, the channel count of each group's view `V_i`."""
    widths = []
    for i in range(filters // group_width):
        available = c_in + i * group_width
        widths.append(available if window is None else min(window, available))
    return widths


def seq_conv2d_ref(
    x,
    *,
    group_width,
    window,
    kernels,
    bn,
    shortcut=None,
    reduce_kernels=None,
    reduce_bn=None,
    subgroups=1,
    epsilon=1e-5,
    training=False,
    view_masks=None,
):
    """Forward pass of `SeqConv2D` for `g = len(kernels)` groups.

    Args:
        x: `(n, h, w, c_in)` input `x0`.
        group_width: `k`.
        window: `W` in channels, or None for dense aggregation.
        kernels: per group, the basic `(kh, kw, w_i, k)` kernel, or for the
            bottleneck the grouped `(kh, kw, k / subgroups, k)` kernel.
        bn: dict of `(g k,)` arrays `gamma`, `beta`, `mean`, `var` for the
            BN after each group's last convolution (`mean`/`var` unused in
            training).
        shortcut: optional `(n, h, w, g k)` tensor added before that BN.
        reduce_kernels: bottleneck only, per group the `(w_i, k)` matrix of
            the 1x1 convolution.
        reduce_bn: bottleneck only, like `bn` for the BN after the 1x1.
        subgroups: groups of the bottleneck's spatial convolution.
        training: batch statistics instead of `mean`/`var`.
        view_masks: optional per-group `(n, w_i)` multipliers applied to
            each view's channels (a dropout mask, already scaled).

    Returns:
        dict with `raw`, `act` (`(n, h, w, g k)`) and, per BN, the batch
        statistics used (`mean`, `var`, `reduce_mean`, `reduce_var`; each
        `(g k,)`, only meaningful in training).
    """
    x = np.asarray(x, np.float64)
    k = group_width
    stream = x
    raws, acts = [], []
    stats = {"mean": [], "var": [], "reduce_mean": [], "reduce_var": []}

    def params(table, i):
        part = slice(i * k, (i + 1) * k)
        if training:
            return table["gamma"][part], table["beta"][part], None, None
        return (
            table["gamma"][part],
            table["beta"][part],
            table["mean"][part],
            table["var"][part],
        )

    for i, kernel in enumerate(kernels):
        available = stream.shape[-1]
        start = 0 if window is None else max(0, available - window)
        view = stream[..., start:]
        if view_masks is not None:
            view = view * view_masks[i][:, None, None, :]
        if reduce_kernels is not None:
            u = view @ np.asarray(reduce_kernels[i], np.float64)
            hidden, mean, var = bn_relu(u, *params(reduce_bn, i), epsilon)
            stats["reduce_mean"].append(mean)
            stats["reduce_var"].append(var)
            z = conv2d_same(hidden, kernel, groups=subgroups)
        else:
            z = conv2d_same(view, kernel)
        if shortcut is not None:
            z = z + np.asarray(shortcut, np.float64)[..., i * k : (i + 1) * k]
        a, mean, var = bn_relu(z, *params(bn, i), epsilon)
        stats["mean"].append(mean)
        stats["var"].append(var)
        raws.append(z)
        acts.append(a)
        stream = np.concatenate([stream, a], axis=-1)
    result = {
        "raw": np.concatenate(raws, axis=-1),
        "act": np.concatenate(acts, axis=-1),
    }
    for name, values in stats.items():
        if values:
            result[name] = np.concatenate(values)
    return result


def seq_conv2d_param_count(
    c_in,
    filters,
    group_width,
    window,
    bottleneck=False,
    subgroups=1,
    kernel_size=3,
):
    """Trainable parameters, the formulas of `docs/design.md#seqconv`
    (window `W <= c_in` or None; BN counts 2 per channel)."""
    k, f = group_width, filters
    g = f // k
    taps = kernel_size * kernel_size
    if window is None:
        # Sum over groups of the view width: C_in + i k, i = 0..g-1.
        seen = g * c_in + k * g * (g - 1) // 2
    else:
        assert window <= c_in, "the spec's formula assumes W <= C_in"
        seen = g * window
    if bottleneck:
        return k * seen + taps * k * f // subgroups + 4 * f
    return taps * k * seen + 2 * f
