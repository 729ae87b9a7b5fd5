"""Application builders; importing the family modules registers them."""

from keras_resvariants.models import res_se_net  # noqa: F401
from keras_resvariants.models import resnet  # noqa: F401
from keras_resvariants.models import rgsnet  # noqa: F401
from keras_resvariants.models import rir  # noqa: F401
from keras_resvariants.models import ror  # noqa: F401
from keras_resvariants.models import seq_resnet  # noqa: F401
from keras_resvariants.models._builder import build_model
from keras_resvariants.models._registry import create_model
from keras_resvariants.models._registry import get_builder
from keras_resvariants.models._registry import list_models
from keras_resvariants.models._registry import model_info

__all__ = [
    "build_model",
    "create_model",
    "get_builder",
    "list_models",
    "model_info",
]
