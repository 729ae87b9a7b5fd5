"""NumPy reference for `RGShortcut`: GroupNorm(ReLU(x)) (Wu and He 2018).

Straight from the definition in float64: each example's group of
`C / G` channels is normalised with the mean and (biased) variance over all
of its spatial positions and channels, then a per-channel affine.
"""

import numpy as np


def rg_shortcut_ref(x, groups, gamma, beta, epsilon=1e-5):
    x = np.maximum(np.asarray(x, np.float64), 0.0)
    channels = x.shape[-1]
    size = channels // groups
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        for g in range(groups):
            sl = slice(g * size, (g + 1) * size)
            block = x[b, ..., sl]
            mean = block.mean()
            var = ((block - mean) ** 2).mean()
            out[b, ..., sl] = (block - mean) / np.sqrt(var + epsilon)
    return out * np.asarray(gamma, np.float64) + np.asarray(beta, np.float64)
