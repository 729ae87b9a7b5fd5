"""keras-resvariants: five residual-network variants for Keras 3.

The paper layers live in `keras_resvariants.layers`; every network of the
papers' tables is a builder here (`keras_resvariants.ResSENet56()`, ...),
from the registry (`list_models`, `create_model`, `model_info`) and
declared with its signature in `keras_resvariants.applications`.
Pretrained weights are listed by `list_weights` / `weights_info` and loaded
with `weights="<tag>"`; `preprocess_input(x, "arch.tag")` applies their
preprocessing, and `keras_resvariants.fine_tune` adapts them to a new task.
"""

from keras_resvariants import applications
from keras_resvariants import fine_tune
from keras_resvariants import layers
from keras_resvariants import models
from keras_resvariants import weights
from keras_resvariants.applications import *  # noqa: F401, F403
from keras_resvariants.macs import count_macs
from keras_resvariants.models import create_model
from keras_resvariants.models import list_models
from keras_resvariants.models import model_info
from keras_resvariants.preprocessing import Preprocessing
from keras_resvariants.preprocessing import preprocess_input
from keras_resvariants.version import __version__
from keras_resvariants.weights import list_weights
from keras_resvariants.weights import load_pretrained
from keras_resvariants.weights import weights_info

# One public builder per registered network, e.g. `ResNet20`, `SeqResNeXt24`,
# each declared with its signature in keras_resvariants/applications.py.
BUILDERS = tuple(applications.__all__)

__all__ = [
    "__version__",
    "Preprocessing",
    "applications",
    "count_macs",
    "create_model",
    "fine_tune",
    "layers",
    "list_models",
    "list_weights",
    "load_pretrained",
    "model_info",
    "models",
    "preprocess_input",
    "weights",
    "weights_info",
]
__all__ += applications.__all__
