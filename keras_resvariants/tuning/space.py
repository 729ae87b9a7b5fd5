"""The search spaces of the families, for keras-tuner.

The spaces are data declared beside each family's networks
(`keras_resvariants.models.<family>`, built from
`keras_resvariants.search_space.Param` and `FamilySpace`); `FAMILIES`
collects them. `training_space(recipe)` gives the parameters that
`VariantHyperModel.fit` tunes (batch size, learning rate, weight decay),
with the recipe's values as defaults.
"""

from keras_resvariants import _catalog as catalog
from keras_resvariants import _validation as v
from keras_resvariants import models  # noqa: F401 (registers the families)
from keras_resvariants.search_space import KINDS  # noqa: F401
from keras_resvariants.search_space import SAMPLINGS  # noqa: F401
from keras_resvariants.search_space import FamilySpace  # noqa: F401
from keras_resvariants.search_space import Param
from keras_resvariants.search_space import check_fixed_value  # noqa: F401

# family id -> its paper's space, as each family module of
# `keras_resvariants.models` declares it.
FAMILIES = {f.id: f.space for f in catalog.FAMILIES.values()
            if f.space is not None}


def get_family_space(family):
    """The `FamilySpace` of `family` (a family with a search space:
    `sorted(FAMILIES)`)."""
    v.check_choice("family", family, tuple(FAMILIES))
    return FAMILIES[family]


# ---------------------------------------------------------------------------
# Training hyperparameters (tuned in `VariantHyperModel.fit`)

TRAINING_NAMES = ("batch_size", "learning_rate", "weight_decay")
_TRAINING_SOURCE = (
    "The papers' recipes (keras_resvariants.recipes): RoR §4.1 lr 0.01, "
    "batch 128; RGSNet §4.2 lr 0.1, wd 5e-4; Res-SE-Net Table 3 lr 0.1, wd "
    "1e-4, batch 128; SeqConv §4.2 lr 0.1, wd 1e-4, batch 64; RiR §3 "
    "grid-searched learning rate and L2 penalty without giving values."
)


def training_space(recipe):
    """`batch_size`, `learning_rate` and `weight_decay` with `recipe`'s
    values as defaults.

    Ranges: batch size 32 to 256 (the papers use 64 and 128); learning rate
    1e-3 to 0.2, log-uniform (the papers use 0.01 to 0.1); weight decay
    (the papers' λ, an L2 term on kernels) 1e-5 to 1e-3, log-uniform (the
    papers use 1e-4 and 5e-4).
    """
    return (
        Param("batch_size", "choice", recipe.batch_size,
              values=tuple(sorted({32, 64, 128, 256, recipe.batch_size})),
              source=_TRAINING_SOURCE),
        Param("learning_rate", "float", recipe.learning_rate, low=1e-3,
              high=0.2, sampling="log", source=_TRAINING_SOURCE),
        Param("weight_decay", "float", recipe.weight_decay, low=1e-5,
              high=1e-3, sampling="log", source=_TRAINING_SOURCE),
    )
