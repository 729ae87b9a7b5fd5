"""keras-resvariants: five residual-network variants for Keras 3.

The paper layers live in `keras_resvariants.layers`; every network of the
papers' tables is a builder here (`keras_resvariants.ResSENet56()`, ...),
generated from the registry (`list_models`, `create_model`, `model_info`).
"""

from keras_resvariants import layers
from keras_resvariants import models
from keras_resvariants.macs import count_macs
from keras_resvariants.models import create_model
from keras_resvariants.models import list_models
from keras_resvariants.models import model_info
from keras_resvariants.version import __version__

# One public builder per registered network, e.g. `ResNet20`, `SeqResNeXt24`.
BUILDERS = tuple(
    models.get_builder(key).__name__ for key in models.list_models()
)
globals().update({name: models.get_builder(name) for name in BUILDERS})

__all__ = [
    "__version__",
    "count_macs",
    "create_model",
    "layers",
    "list_models",
    "model_info",
    "models",
    *BUILDERS,
]
