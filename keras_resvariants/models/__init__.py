"""Application builders; importing the family modules registers them.

One module per family, named by its id (`resnet`, `res_se`, `rgs`, `rir`,
`ror`, `seqconv`): the paper's `Family` record (citation, recipes, search
space, study pair) and its networks. The baselines register first, since
the variants reuse their spec factories.
"""

import sys

from keras_resvariants.models import res_se  # noqa: F401
from keras_resvariants.models import resnet  # noqa: F401
from keras_resvariants.models import rgs  # noqa: F401
from keras_resvariants.models import rir  # noqa: F401
from keras_resvariants.models import ror  # noqa: F401
from keras_resvariants.models import seqconv  # noqa: F401
from keras_resvariants.models._builder import build_model
from keras_resvariants.models._registry import create_model
from keras_resvariants.models._registry import get_builder
from keras_resvariants.models._registry import get_family
from keras_resvariants.models._registry import list_families
from keras_resvariants.models._registry import list_models
from keras_resvariants.models._registry import model_info

# The modules' names before family id = module name, still importable.
for _old, _new in (("rgsnet", rgs), ("res_se_net", res_se),
                   ("seq_resnet", seqconv)):
    sys.modules[f"{__name__}.{_old}"] = _new

__all__ = [
    "build_model",
    "create_model",
    "get_builder",
    "get_family",
    "list_families",
    "list_models",
    "model_info",
]
