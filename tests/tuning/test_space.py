"""The search spaces: against the papers' ranges (written out here
independently of the package), against the HyperModels' docstrings and
keras-tuner's `hp.space`, and every point of every space must build."""

import keras_tuner as kt
import pytest

from keras_resvariants import recipes
from keras_resvariants.models import list_models
from keras_resvariants.models import model_info
from keras_resvariants.models import rir as rir_lib
from keras_resvariants.models import seq_resnet as seq_lib
from keras_resvariants.tuning import FAMILIES
from keras_resvariants.tuning import HYPERMODELS
from keras_resvariants.tuning import VariantHyperModel
from keras_resvariants.tuning import make_hypermodel
from keras_resvariants.tuning import make_tuner

# name: (values, default) from the papers (see each HyperModel's docstring
# for the passages): RoR Table 2, §4.3/Fig. 5, §4.4/Fig. 6; RGSNet §3,
# Fig. 3, Tables 3-4, 8, 11; RiR Fig. 2, Table 4, §3; Res-SE-Net §5,
# Table 5, §3.2; SeqConv Tables 1-3, 5, §3.1-3.2.
PAPER_SPACES = {
    "ror": {
        "depth": ((56, 110, 164), 56),
        "width": ((16, 32), 32),
        "represent_ratio": ((0.0, 0.025, 0.05, 0.1, 0.2), 0.05),
        "drop_rate": ((0.0, 0.1, 0.2, 0.3, 0.4), 0.2),
    },
    "rgs": {
        "depth": ((26, 32, 38, 44, 50, 62, 77, 101, 152), 50),
        "width": ((0.25, 0.5, 1.0, 2.0), 0.25),
        "variant": (("b", "d", "res"), "res"),
        "group_scale": ((0.25, 0.5, 1.0, 2.0), 1.0),
    },
    "rir": {
        "blocks_per_stage": ((1, 2, 3, 5), 5),
        "layers_per_block": ((2, 3, 5, 10), 2),
        "mode": (("rir", "resnet", "resnet_init", "cnn"), "rir"),
        "shortcut": (("identity", "projection"), "identity"),
        "transient_ratio": ((0.25, 0.5, 0.75), 0.5),
    },
    "res_se": {
        "depth": ((20, 32, 44, 56, 110), 44),
        "reduction": ((2, 4, 8, 16, 32), 16),
    },
    "seqconv": {
        "block": (("basic", "bottleneck"), "basic"),
        "k": ((8, 16, 32), 8),
        "r": ((2, 4, 6, 8, 10, 12), 4),
        "blocks_per_stage": ((1, 2, 3), 1),
        "dense": ((False, True), False),
        "subgroups": ((1, 2, 4, 8), 1),
    },
}
CONDITIONS = {("rir", "shortcut"): ("mode", ("rir",)),
              ("seqconv", "subgroups"): ("block", ("bottleneck",))}
FAMILY_NAMES = sorted(PAPER_SPACES)


def _hypermodel(family, **kwargs):
    return make_hypermodel(family, input_shape=(28, 28, 1), classes=10,
                           **kwargs)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_declared_space_matches_papers(family):
    space = FAMILIES[family]
    assert space.names == tuple(PAPER_SPACES[family])
    for name, (values, default) in PAPER_SPACES[family].items():
        param = space.param(name)
        assert param.choices == values, name
        assert param.default == default, name
        assert param.condition == CONDITIONS.get((family, name)), name
        assert param.source, name


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_docstring_documents_every_range_and_default(family):
    doc = " ".join(HYPERMODELS[family].__doc__.split())
    assert "Reference:" in doc
    for name, (values, default) in PAPER_SPACES[family].items():
        listed = ", ".join(repr(x) for x in values)
        assert f"`{name}`: one of {listed}; default {default!r}" in doc, (
            name)


def test_training_space_and_its_documentation():
    base_doc = " ".join(VariantHyperModel.__doc__.split())
    assert "`batch_size`: one of 32, 64, 128, 256" in base_doc
    assert "`learning_rate`: 0.001 to 0.2, log-uniform" in base_doc
    assert "`weight_decay`: 1e-05 to 0.001, log-uniform" in base_doc
    for family, recipe in recipes.FAMILY_RECIPES.items():
        if family not in FAMILIES:
            continue
        recipe = recipes.get_recipe(recipe)
        hm = _hypermodel(family)
        batch, lr, wd = hm.training_params
        assert batch.choices == (32, 64, 128, 256)
        assert batch.default == recipe.batch_size
        assert (lr.low, lr.high, lr.sampling) == (1e-3, 0.2, "log")
        assert lr.default == recipe.learning_rate
        assert (wd.low, wd.high, wd.sampling) == (1e-5, 1e-3, "log")
        assert wd.default == recipe.weight_decay


def _check_hp(hp_obj, values, default):
    assert hp_obj.default == default
    if isinstance(hp_obj, kt.engine.hyperparameters.Boolean):
        assert values == (False, True)
    else:
        assert tuple(hp_obj.values) == values


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_keras_tuner_space_after_build(family):
    hm = _hypermodel(family)
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert model.optimizer is not None  # compiled
    registered = {h.name: h for h in hp.space}
    assert set(registered) == set(PAPER_SPACES[family])
    for name, (values, default) in PAPER_SPACES[family].items():
        _check_hp(registered[name], values, default)
        condition = CONDITIONS.get((family, name))
        if condition:
            (cond,) = registered[name].conditions
            assert (cond.name, tuple(cond.values)) == condition
    # The whole space, training parameters included, is declared up front.
    full = kt.HyperParameters()
    hm.declare_hyperparameters(full)
    declared = {h.name: h for h in full.space}
    assert set(declared) == set(PAPER_SPACES[family]) | {
        "batch_size", "learning_rate", "weight_decay"}
    lr = declared["learning_rate"]
    assert (lr.min_value, lr.max_value, lr.sampling) == (1e-3, 0.2, "log")


def _rgs_valid(kwargs):
    width, groups = kwargs["width"], kwargs["groups"]
    # RG normalises the identity shortcuts (4 * 64w * 2^s channels) and,
    # in d/res, the bottleneck widths 64w * 2^s.
    widths = [int(64 * width * 2**s) for s in range(4)]
    widths += [4 * w for w in widths]
    return all(w % groups == 0 for w in widths)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_point_of_the_space_is_buildable(family):
    hm = _hypermodel(family)
    keys = set(list_models(family=family))
    points = list(FAMILIES[family].points())
    assert points
    for point in points:
        key, kwargs = hm.architecture(point)
        assert key in keys
        assert set(kwargs) <= set(model_info(key)["hyperparameters"])
        if family == "rgs":
            assert _rgs_valid(kwargs), kwargs
        elif family == "seqconv":
            seq_lib.seq_resnet_cifar(
                bottleneck=key == "seq_resnet_b", **kwargs)
        elif family == "rir":
            rir_lib._rir_net_32(**{"shortcut": "identity", **kwargs})


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_fixable_extras_are_builder_arguments(family):
    space = FAMILIES[family]
    hm = _hypermodel(family)
    for point in list(space.points())[:50]:
        key, _ = hm.architecture(point)
        accepted = model_info(key)["hyperparameters"]
        assert set(space.extras) <= set(accepted)


def test_fixed_and_narrowed_spaces():
    hm = _hypermodel("ror", fixed={"depth": 110, "drop_rate": 0.3,
                                   "seed": 7},
                     space={"represent_ratio": [0.0, 0.05],
                            "learning_rate": (0.005, 0.05)})
    params = {p.name: p for p in hm.params + hm.training_params}
    assert params["depth"].kind == "fixed" and params["depth"].default == 110
    assert params["represent_ratio"].choices == (0.0, 0.05)
    assert params["represent_ratio"].default == 0.05
    assert (params["learning_rate"].low,
            params["learning_rate"].high) == (0.005, 0.05)
    assert params["learning_rate"].default == 0.01  # RoR recipe's
    hp = kt.HyperParameters()
    hm.declare_hyperparameters(hp)
    assert hp.values["seed"] == 7 and hp.values["depth"] == 110
    key, kwargs = hm.architecture(hp.values)
    assert key == "ror_resnet_110"
    assert kwargs["seed"] == 7 and kwargs["drop_rate"] == 0.3


def test_rgs_fixed_groups_replace_group_scale():
    hm = _hypermodel("rgs", fixed={"groups": 4, "width": 0.5})
    assert "group_scale" not in [p.name for p in hm.params]
    hp = kt.HyperParameters()
    hm.declare_hyperparameters(hp)
    _, kwargs = hm.architecture(hp.values)
    assert kwargs["groups"] == 4


def test_replicas_restrict_batch_sizes():
    (batch, *_) = _hypermodel("rir", num_replicas=128).training_params
    assert batch.choices == (128, 256)
    with pytest.raises(ValueError, match="batch_size.*3 replicas"):
        _hypermodel("rir", num_replicas=3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(fixed={"ratio": 0.1}), "`fixed` names unknown hyperparameter "
                                 "'ratio'.*Accepted: depth"),
    (dict(space={"seed": [1, 2]}), "`space` names unknown hyperparameter "
                                   "'seed'"),
    (dict(fixed={"drop_rate": 0.2}, space={"drop_rate": [0.1]}),
     "both fixed and narrowed"),
    (dict(fixed={"drop_rate": [0.2]}), "fixed value must be a bool, int, "
                                       "float or str.*drop_rate"),
    (dict(space={"drop_rate": []}), "non-empty list.*drop_rate"),
    (dict(space={"learning_rate": (0.1, 0.01)}), "low <= high.*"
                                                 "learning_rate"),
    (dict(recipe="nope"), "`recipe` must be one of"),
])
def test_invalid_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _hypermodel("ror", **kwargs)


def test_invalid_family_and_shape():
    with pytest.raises(ValueError, match="`family` must be one of.*'ror'"):
        make_hypermodel("resnext", input_shape=(28, 28, 1), classes=10)
    with pytest.raises(ValueError, match="input_shape"):
        make_hypermodel("ror", input_shape=(28, 28), classes=10)
    with pytest.raises(ValueError, match="`family` must be 'ror'"):
        HYPERMODELS["ror"]("rgs", input_shape=(28, 28, 1), classes=10)


def test_grid_search_needs_a_finite_space(tmp_path):
    hm = _hypermodel("res_se", fixed={"depth": 20})
    with pytest.raises(ValueError, match="tuner='grid'.*learning_rate"):
        make_tuner("grid", hm, directory=str(tmp_path))
