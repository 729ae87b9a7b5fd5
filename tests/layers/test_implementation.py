"""The run-time implementation switch (`keras_resvariants.layers.
implementation`): process-wide and per-instance choices, validation, and
configs and `.keras` files that do not hold it (old ones that do load)."""

import doctest
import json
import os
import zipfile

import keras
import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants import layers as L
from keras_resvariants.layers import implementation as impl
from tests.testing import count_calls
from tests.testing import predict_outputs

DEFAULTS = {"GroupedConv2D": "auto", "RGShortcut": "fast",
            "SeqConv2D": "auto"}


@pytest.fixture(autouse=True)
def _defaults_around_each_test():
    for name, value in DEFAULTS.items():
        L.set_implementation(name, value)
    yield
    for name, value in DEFAULTS.items():
        L.set_implementation(name, value)


def test_exported_from_layers():
    assert L.set_implementation is impl.set_implementation
    assert L.get_implementation is impl.get_implementation
    assert L.implementation_scope is impl.implementation_scope


def test_defaults_and_setting_by_name_or_class():
    assert {name: L.get_implementation(name) for name in DEFAULTS} == (
        DEFAULTS)
    L.set_implementation("GroupedConv2D", "native")
    assert L.get_implementation(L.GroupedConv2D) == "native"
    L.set_implementation(L.RGShortcut, "keras")
    assert L.get_implementation("RGShortcut") == "keras"
    # One switch does not move the other.
    L.set_implementation(L.GroupedConv2D, "split")
    assert L.get_implementation("RGShortcut") == "keras"


def test_a_subclass_follows_its_base_class():

    class MyShortcut(L.RGShortcut):
        pass

    L.set_implementation(MyShortcut, "keras")
    assert L.get_implementation(L.RGShortcut) == "keras"
    layer = MyShortcut(groups=2)
    assert impl.resolve(layer) == "keras"


def test_the_scope_restores_the_previous_choice():
    L.set_implementation("GroupedConv2D", "split")
    with L.implementation_scope("GroupedConv2D", "native"):
        assert L.get_implementation("GroupedConv2D") == "native"
        with L.implementation_scope(L.GroupedConv2D, "auto"):
            assert L.get_implementation("GroupedConv2D") == "auto"
        assert L.get_implementation("GroupedConv2D") == "native"
    assert L.get_implementation("GroupedConv2D") == "split"
    with pytest.raises(RuntimeError, match="inside"):
        with L.implementation_scope("RGShortcut", "keras"):
            raise RuntimeError("inside")
    assert L.get_implementation("RGShortcut") == "fast"


@pytest.mark.parametrize("make", [lambda: L.RGShortcut(groups=2),
                                  lambda: L.GroupedConv2D(4, 3, groups=2),
                                  lambda: L.SeqConv2D(8, 4)],
                         ids=["RGShortcut", "GroupedConv2D", "SeqConv2D"])
def test_a_new_instance_reads_none_and_takes_an_override(make):
    layer = make()
    assert layer.implementation is None
    name = type(layer).__name__
    choice = [c for c in impl._CHOICES[name] if c != DEFAULTS[name]][0]
    layer.implementation = choice
    assert (layer.implementation, impl.resolve(layer)) == (choice, choice)
    assert impl.resolve(make()) == DEFAULTS[name]


def test_the_instance_override_wins_and_none_follows_the_process():
    layer = L.RGShortcut(groups=2)
    assert layer.implementation is None
    assert impl.resolve(layer) == "fast"
    with L.implementation_scope("RGShortcut", "keras"):
        assert impl.resolve(layer) == "keras"
        layer.implementation = "fast"
        assert impl.resolve(layer) == "fast"
    layer.implementation = None
    assert impl.resolve(layer) == "fast"


@pytest.mark.parametrize("layer", ["Conv2D", "rgshortcut", None, 3,
                                   keras.layers.Conv2D])
def test_an_unknown_layer_names_the_argument_value_and_choices(layer):
    for call in (lambda: L.set_implementation(layer, "auto"),
                 lambda: L.get_implementation(layer),
                 lambda: L.implementation_scope(layer, "auto").__enter__()):
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == (
            "`layer` must be one of 'GroupedConv2D', 'RGShortcut', "
            "'SeqConv2D' or the layer class (or a subclass). Received: "
            f"layer={layer!r}")


def test_an_instance_is_not_a_layer_argument():
    # Instances have their own `implementation` attribute.
    with pytest.raises(ValueError, match="`layer` must be one of"):
        L.set_implementation(L.RGShortcut(groups=2), "keras")


@pytest.mark.parametrize(
    "layer, bad, accepted",
    [("GroupedConv2D", "fast", "'auto', 'split', 'native'"),
     ("GroupedConv2D", None, "'auto', 'split', 'native'"),
     ("RGShortcut", "native", "'fast', 'keras'"),
     ("RGShortcut", "Fast", "'fast', 'keras'"),
     ("SeqConv2D", "loop", "'auto', 'grouped', 'dense'")],
)
def test_an_unknown_implementation_names_the_value_and_choices(
        layer, bad, accepted):
    expected = (f"`implementation` must be one of {accepted} for {layer}. "
                f"Received: implementation={bad!r}")
    for call in (lambda: L.set_implementation(layer, bad),
                 lambda: L.implementation_scope(layer, bad).__enter__()):
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == expected
    assert L.get_implementation(layer) == DEFAULTS[layer]


def test_the_constructor_argument_is_validated_before_the_warning():
    with pytest.raises(ValueError, match="Received: implementation='x'"):
        L.GroupedConv2D(8, 3, groups=2, implementation="x")


def _model():
    """One model with both layers, random weights."""
    inputs = keras.Input((6, 6, 8))
    x = L.GroupedConv2D(8, 3, groups=4, padding="same", use_bias=True,
                        name="grouped")(inputs)
    x = L.RGShortcut(groups=2, name="rg")(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(0)
    for var in model.weights:
        var.assign(rng.uniform(0.5, 1.5, var.shape).astype("float32"))
    return model


def _x():
    return np.random.default_rng(1).standard_normal((2, 6, 6, 8)).astype(
        "float32")


def _layer_configs(config):
    return {layer["config"]["name"]: layer["config"]
            for layer in config["config"]["layers"]}


def test_keras_files_hold_no_implementation(tmp_path):
    model = _model()
    model.get_layer("grouped").implementation = "split"
    model.get_layer("rg").implementation = "keras"
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        text = archive.read("config.json").decode("utf-8")
    assert "implementation" not in text
    reloaded = keras.saving.load_model(path)
    assert {reloaded.get_layer(n).implementation
            for n in ("grouped", "rg")} == {None}


def test_keras_files_saved_with_an_implementation_still_load(tmp_path):
    """A `.keras` file as the package saved it when `implementation` was a
    constructor argument: its config.json holds the key in both layers'
    configs. It loads, and predicts what the model predicted."""
    model = _model()
    x = _x()
    expected = predict_outputs(model, x)[0]
    new = os.path.join(str(tmp_path), "new.keras")
    old = os.path.join(str(tmp_path), "old.keras")
    model.save(new)
    with zipfile.ZipFile(new) as source, zipfile.ZipFile(old, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                layers = _layer_configs(config)
                layers["grouped"]["implementation"] = "split"
                layers["rg"]["implementation"] = "keras"
                data = json.dumps(config).encode("utf-8")
            target.writestr(item, data)
    with zipfile.ZipFile(old) as archive:
        layers = _layer_configs(json.loads(archive.read("config.json")))
    assert layers["grouped"]["implementation"] == "split"
    assert layers["rg"]["implementation"] == "keras"
    reloaded = keras.saving.load_model(old)
    assert {reloaded.get_layer(n).implementation
            for n in ("grouped", "rg")} == {None}
    np.testing.assert_allclose(predict_outputs(reloaded, x)[0], expected,
                               rtol=1e-5, atol=1e-5)
    # And under the other choices, chosen at run time.
    with L.implementation_scope("RGShortcut", "keras"):
        np.testing.assert_allclose(predict_outputs(reloaded, x)[0],
                                   expected, rtol=1e-5, atol=1e-5)


def test_a_compiled_function_keeps_its_choice_until_recompiled(
        monkeypatch):
    """As documented: inside a compiled function the choice is read when
    it is traced; `compile()` drops the traced functions. Keras' torch
    backend runs `predict` eagerly: each call reads it."""
    eager = keras.backend.backend() == "torch"
    calls = count_calls(monkeypatch, keras.layers.GroupNormalization,
                        "call")
    inputs = keras.Input((4, 4, 8))
    model = keras.Model(inputs, L.RGShortcut(groups=2)(inputs))
    x = np.ones((2, 4, 4, 8), "float32")
    model.compile()
    model.predict(x, verbose=0)
    assert calls == []
    with L.implementation_scope("RGShortcut", "keras"):
        model.predict(x, verbose=0)
        assert bool(calls) == eager  # else traced with "fast"
        model.compile()
        model.predict(x, verbose=0)
        assert calls  # traced again with "keras"


def test_model_configs_are_the_same_under_every_choice():
    def config():
        keras.utils.set_random_seed(0)
        return kr.create_model("resnext_29", input_shape=(8, 8, 3),
                               classes=10, cardinality=2,
                               base_width=4).get_config()

    reference = json.dumps(config(), sort_keys=True)
    assert "implementation" not in reference
    with L.implementation_scope("GroupedConv2D", "native"):
        assert json.dumps(config(), sort_keys=True) == reference


def test_module_docstring_example_runs():
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(impl, impl.__name__) if t.examples]
    assert tests
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in tests:
        test.globs.update(keras_resvariants=kr, keras=keras, np=np)
        runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)
