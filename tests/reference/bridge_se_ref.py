"""NumPy reference for `BridgeSE` (squeeze-and-excitation, Hu et al. 2018,
applied to the projection shortcut as in Res-SE-Net), in float64."""

import numpy as np


def bridge_se_ref(s, w1, b1, w2, b2):
    """`s * sigmoid(W2 relu(W1 GAP(s) + b1) + b2)` per example.

    Dense weights use the Keras layout: `w1` (C, C//r), `w2` (C//r, C).
    """
    s = np.asarray(s, np.float64)
    out = np.empty_like(s)
    for b in range(s.shape[0]):
        z = s[b].reshape(-1, s.shape[-1]).mean(axis=0)  # (C,)
        h = np.maximum(z @ w1 + b1, 0.0)
        e = 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))
        out[b] = s[b] * e
    return out


def bridge_se_param_count(channels, reduction):
    """Trainable parameters per docs/design.md#res_se:
    `2*C*(C//r) + C//r + C`."""
    hidden = channels // reduction
    return 2 * channels * hidden + hidden + channels
