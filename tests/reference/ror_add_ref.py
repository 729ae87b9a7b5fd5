"""NumPy reference for `RoRAdd` (Shen and Gao 2018, Eq. 6 + drop-layer).

Written from the paper's per-channel definition, channel by channel and in
float64, with the drop-layer gate passed in explicitly. The layer instead
folds the mask and gate into two per-channel coefficient vectors.
"""

import numpy as np


def represent_indices_ref(represent_ratio, seed, channels):
    """The split docs/design.md#ror describes: `round(ratio*C)`
    channels drawn with `RandomState(seed).choice(C, n, replace=False)`."""
    count = int(round(represent_ratio * channels))
    rng = np.random.RandomState(seed)
    return np.sort(rng.choice(channels, count, replace=False))


def ror_add_ref(shortcut, residual, represent_indices, gate):
    """`y_i = x_i + g*F_i` for Refine channels, `y_i = F_i` for Represent.

    Args:
        shortcut, residual: arrays of shape (batch, ..., C).
        represent_indices: indices of the Represent channels.
        gate: scalar (one gate for the batch) or array of shape (batch,)
            (one gate per example).
    """
    x = np.asarray(shortcut, np.float64)
    f = np.asarray(residual, np.float64)
    gate = np.asarray(gate, np.float64)
    if gate.ndim == 1:
        gate = gate.reshape((-1,) + (1,) * (x.ndim - 2))
    represent = set(int(i) for i in represent_indices)
    out = np.empty_like(x)
    for c in range(x.shape[-1]):
        if c in represent:
            out[..., c] = f[..., c]
        else:
            out[..., c] = x[..., c] + gate * f[..., c]
    return out


def inference_gate_ref(drop_rate, scale_at):
    """The gate at inference: `1 - p` (stochastic-depth convention) or `1`
    (inverted scaling)."""
    return 1.0 - drop_rate if scale_at == "inference" else 1.0


def training_gate_values_ref(drop_rate, scale_at):
    """The two values a training gate can take: (dropped, kept)."""
    kept = 1.0 / (1.0 - drop_rate) if scale_at == "train" else 1.0
    return 0.0, kept
