"""Hyperparameter search with keras-tuner over each family's paper knobs.

* `VariantHyperModel` and one subclass per family with a search space
  (`HYPERMODELS`: `RoRHyperModel`, `RGSHyperModel`, `RiRHyperModel`,
  `ResSEHyperModel`, `SeqConvHyperModel`), generated from the spaces the
  family modules declare: `build(hp)` returns a compiled registry network,
  `fit(hp, model, ...)` tunes batch size, learning rate and weight decay.
  Each subclass's docstring cites the papers for its ranges and defaults.
* `search()`: the search behind `resvariants tune`; it raises
  `TrialsFailedError` when a trial fails (keras-tuner itself would carry on
  and report the failed trial's hyperparameters as usable).
* `space`: the search spaces as data (`get_family_space`, `Param`).

Needs keras-tuner: `pip install 'keras-resvariants[tune]'` (on the
TensorFlow backend keras-tuner also needs `tensorboard` when a search runs;
the extra installs it). Without it, importing this package raises an
`ImportError` that names the extra; the search spaces themselves are core
data (`keras_resvariants.search_space`, the family modules).
"""

from keras_resvariants import _extras

_extras.require_package(__name__)

from keras_resvariants.tuning.hypermodel import HYPERMODELS
from keras_resvariants.tuning.hypermodel import TuningData
from keras_resvariants.tuning.hypermodel import VariantHyperModel
from keras_resvariants.tuning.hypermodel import make_hypermodel
from keras_resvariants.tuning.search import SearchResult
from keras_resvariants.tuning.search import TrialRecord
from keras_resvariants.tuning.search import TrialsFailedError
from keras_resvariants.tuning.search import format_table
from keras_resvariants.tuning.search import make_tuner
from keras_resvariants.tuning.search import search
from keras_resvariants.tuning.space import FAMILIES
from keras_resvariants.tuning.space import FamilySpace
from keras_resvariants.tuning.space import Param
from keras_resvariants.tuning.space import get_family_space
from keras_resvariants.tuning.space import training_space

# `RoRHyperModel`, ...: one name per generated family hypermodel.
globals().update({cls.__name__: cls for cls in HYPERMODELS.values()})

__all__ = [
    "FAMILIES",
    "FamilySpace",
    "HYPERMODELS",
    "Param",
    "SearchResult",
    "TrialRecord",
    "TrialsFailedError",
    "TuningData",
    "VariantHyperModel",
    "format_table",
    "get_family_space",
    "make_hypermodel",
    "make_tuner",
    "search",
    "training_space",
    *sorted(cls.__name__ for cls in HYPERMODELS.values()),
]
