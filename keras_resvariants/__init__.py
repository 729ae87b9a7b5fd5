"""keras-resvariants: five residual-network variants for Keras 3."""

from keras_resvariants import layers
from keras_resvariants.version import __version__

__all__ = [
    "__version__",
    "layers",
]
