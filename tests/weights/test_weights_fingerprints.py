"""Weight-structure fingerprints: the guard against refactors that would
silently break published weights (Keras 3 `.weights.h5` files match
variables by layer class and position, not by name)."""

import copy
import dataclasses
import json
import os

import keras
import pytest

import keras_resvariants as kr
from keras_resvariants.weights import architecture_fingerprints
from keras_resvariants.weights import fingerprint
from keras_resvariants.weights import loading
from keras_resvariants.weights import registry
from keras_resvariants.weights import weight_structure
from tests.weights.weights_helpers import HPARAMS
from tests.weights.weights_helpers import NAME
from tests.weights.weights_helpers import SHAPE
from tests.weights.weights_helpers import TAG


def _shipped_records():
    """The records in the package's records.json (not the env override)."""
    return list(registry._parse(registry.RECORDS_FILE).values())


def _check(record):
    top, notop = architecture_fingerprints(
        record.arch, hyperparameters=record.hyperparameters,
        classes=record.classes, input_shape=record.input_shape)
    problems = []
    if top != record.top.fingerprint:
        problems.append(f"{record.name}: top structure changed")
    if notop != record.notop.fingerprint:
        problems.append(f"{record.name}: no-top structure changed")
    return problems


def test_every_shipped_record_matches_todays_architecture(published):
    """Recomputes each published architecture's fingerprints from its
    builder. Failing means a code change altered the weight structure of
    networks with published weights: they would no longer load. Also run
    on the test record, so the check is exercised with zero shipped
    records."""
    records = _shipped_records() + [published.record]
    problems = [p for record in records for p in _check(record)]
    assert not problems, (
        "Published weights no longer fit their networks (restore the "
        "structure, or re-publish the weights): " + "; ".join(problems))


def test_the_check_fails_on_a_changed_structure(published):
    tampered = dataclasses.replace(
        published.record,
        top=dataclasses.replace(published.record.top, fingerprint="0" * 64))
    assert _check(tampered) == [f"{NAME}: top structure changed"]
    other_hparams = dataclasses.replace(published.record,
                                        hyperparameters={"depth": 26,
                                                         "width": 0.125})
    assert len(_check(other_hparams)) == 2


def test_shipped_weight_files_match_their_records():
    for record in _shipped_records():
        for entry in (record.top, record.notop):
            path = os.path.join(loading.REPO_WEIGHTS_DIR, entry.name)
            assert os.path.isfile(path), f"{entry.name} is not in saved_models"
            assert loading.sha256_file(path) == entry.sha256, entry.name


def test_a_tampered_record_refuses_to_load(published, tmp_path, monkeypatch):
    """A fingerprint that differs from today's structure (what a refactor
    produces) stops loading with a clear error."""
    config = published.record.to_config()
    config["top"]["fingerprint"] = "f" * 64
    path = tmp_path / "records.json"
    path.write_text(json.dumps({"format_version": 1,
                                "records": {NAME: config}}))
    monkeypatch.setenv(registry.RECORDS_ENV, str(path))
    monkeypatch.setenv(loading.WEIGHTS_DIR_ENV, published.weights_dir)
    with pytest.raises(ValueError, match="publish them again"):
        kr.ResNetCifar(weights=TAG)
    registry._CACHE.clear()


def _structure():
    model = kr.ResNetCifar(input_shape=SHAPE, classes=10, **HPARAMS)
    return weight_structure(model)


def test_renaming_reordering_reshaping_or_retyping_changes_it():
    base = _structure()
    reference = fingerprint(base)

    renamed = copy.deepcopy(base)
    renamed[1][1][0][0] = renamed[1][1][0][0].replace("stem_bn", "stem_norm")
    reordered = copy.deepcopy(base)
    reordered[3], reordered[4] = reordered[4], reordered[3]
    reshaped = copy.deepcopy(base)
    reshaped[0][1][0][1][-1] += 1
    retyped = copy.deepcopy(base)
    retyped[0][0] = "SeqConv2D"
    recast = copy.deepcopy(base)
    recast[0][1][0][2] = "float16"
    variants = [renamed, reordered, reshaped, retyped, recast]
    prints = {fingerprint(s) for s in variants}
    assert reference not in prints and len(prints) == len(variants)


def test_what_does_not_change_it():
    reference = fingerprint(_structure())
    # Model name, input size, an enclosing name scope: not the weights.
    assert fingerprint(kr.ResNetCifar(input_shape=(40, 36, 1), classes=10,
                                      name="other", **HPARAMS)) == reference
    with keras.name_scope("outer"):
        scoped = kr.ResNetCifar(input_shape=SHAPE, classes=10, **HPARAMS)
    assert fingerprint(scoped) == reference
    # The head's size changes the top structure only.
    five = kr.ResNetCifar(input_shape=SHAPE, classes=5, **HPARAMS)
    assert fingerprint(five) != reference
    notop = kr.ResNetCifar(include_top=False, input_shape=SHAPE, **HPARAMS)
    sub = keras.Model(five.input, five.get_layer("avg_pool").input)
    assert fingerprint(sub) == fingerprint(notop)


# The run-time implementations of GroupedConv2D and RGShortcut compute the
# same function with the same weights: they are not part of the structure.
IMPLEMENTATIONS = [("auto", "fast"), ("split", "keras"), ("native", "fast")]


def _rgs_resnext():
    return kr.create_model("b_rgsnet_resnext_29", input_shape=(8, 8, 3),
                           classes=10, cardinality=2, base_width=4,
                           groups=2)


def test_the_run_time_implementation_does_not_change_it():
    from keras_resvariants import layers as L

    model = _rgs_resnext()
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"GroupedConv2D", "RGShortcut"} <= kinds
    reference = fingerprint(model)
    x = keras.ops.ones((1, 8, 8, 3))
    prints = set()
    for grouped, rg in IMPLEMENTATIONS:
        # The same model called, and a model built, under each choice.
        with (L.implementation_scope("GroupedConv2D", grouped),
              L.implementation_scope("RGShortcut", rg)):
            model(x)
            prints |= {fingerprint(model), fingerprint(_rgs_resnext())}
            prints.add(fingerprint(keras.Model.from_config(
                model.get_config())))
    # Per-instance choices.
    for layer in model.layers:
        if isinstance(layer, L.GroupedConv2D):
            layer.implementation = "native"
        elif isinstance(layer, L.RGShortcut):
            layer.implementation = "keras"
    model(x)
    prints.add(fingerprint(model))
    assert prints == {reference}
    assert "implementation" not in json.dumps(model.get_config())


def test_shipped_records_match_under_every_run_time_implementation(
        published):
    from keras_resvariants import layers as L

    records = _shipped_records() + [published.record]
    for record in records:
        assert "implementation" not in json.dumps(record.to_config())
    for grouped, rg in IMPLEMENTATIONS[1:]:
        with (L.implementation_scope("GroupedConv2D", grouped),
              L.implementation_scope("RGShortcut", rg)):
            problems = [p for r in records for p in _check(r)]
        assert not problems, (grouped, rg, problems)
