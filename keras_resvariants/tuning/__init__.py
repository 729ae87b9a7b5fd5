"""Hyperparameter search with keras-tuner over each family's paper knobs.

* `VariantHyperModel` and one subclass per family (`RoRHyperModel`,
  `RGSHyperModel`, `RiRHyperModel`, `ResSEHyperModel`,
  `SeqConvHyperModel`): `build(hp)` returns a compiled registry network,
  `fit(hp, model, ...)` tunes batch size, learning rate and weight decay.
  Each subclass's docstring cites the papers for its ranges and defaults.
* `search()`: the search behind `resvariants tune`; it raises
  `TrialsFailedError` when a trial fails (keras-tuner itself would carry on
  and report the failed trial's hyperparameters as usable).
* `space`: the search spaces as data (`get_family_space`, `Param`).

Importing this package imports keras-tuner (and, on the TensorFlow backend,
keras-tuner needs `tensorboard` when a search runs).
"""

from keras_resvariants.tuning.hypermodel import HYPERMODELS
from keras_resvariants.tuning.hypermodel import ResSEHyperModel
from keras_resvariants.tuning.hypermodel import RGSHyperModel
from keras_resvariants.tuning.hypermodel import RiRHyperModel
from keras_resvariants.tuning.hypermodel import RoRHyperModel
from keras_resvariants.tuning.hypermodel import SeqConvHyperModel
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

__all__ = [
    "FAMILIES",
    "FamilySpace",
    "HYPERMODELS",
    "Param",
    "RGSHyperModel",
    "ResSEHyperModel",
    "RiRHyperModel",
    "RoRHyperModel",
    "SearchResult",
    "SeqConvHyperModel",
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
]
