"""keras_resvariants/applications.py: one declared `def` per network.

The file is generated from the registry by tools/gen_applications.py; a
network registered or changed without regenerating it fails here, with the
command to run.
"""

import difflib
import importlib.util
import inspect
import os

import keras
import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants import applications
from keras_resvariants import models

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "gen_applications.py")


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("gen_applications", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source():
    with open(applications.__file__, encoding="utf-8") as f:
        return f.read()


def _declarations(generator):
    """`{key: function as written}`: the generated part of the file run
    with a `_registered` that keeps each declaration."""
    source = _source()
    generated = source[source.index(generator.MARKER):]
    declared = {}
    namespace = {
        "__all__": [],
        "_registered": lambda key: (
            lambda function: declared.setdefault(key, function)),
    }
    exec(compile(generated, applications.__file__, "exec"), namespace)
    return declared, namespace["__all__"]


def test_the_file_is_the_generators_output(generator):
    expected, current = generator.render(), _source()
    diff = "".join(list(difflib.unified_diff(
        current.splitlines(True), expected.splitlines(True),
        "applications.py", "render()"))[:40])
    assert current == expected, (
        "keras_resvariants/applications.py is out of date; run "
        f"`{applications.REGENERATE}`.\n{diff}")
    assert generator.main([]) == 0


def test_every_registered_network_is_declared(generator):
    declared, names = _declarations(generator)
    keys = models.list_models()
    assert list(declared) == keys, f"run `{applications.REGENERATE}`"
    builders = [models.model_info(key)["builder"] for key in keys]
    assert names == applications.__all__ == builders
    assert kr.BUILDERS == tuple(builders)
    assert set(builders) <= set(kr.__all__)
    for key, name in zip(keys, builders):
        assert declared[key].__name__ == name
        # The name in the module and in the package is the registry's
        # builder itself, with its docstring and argument checks.
        builder = models.get_builder(key)
        assert getattr(applications, name) is builder
        assert getattr(kr, name) is builder
        assert kr.__dict__[name].__name__ == name


def test_declared_signatures_are_the_builders(generator):
    declared, _ = _declarations(generator)
    for key, declaration in declared.items():
        builder = models.get_builder(key)
        name = builder.__name__
        expected = inspect.signature(builder)
        assert inspect.signature(declaration) == expected, name
        assert inspect.signature(getattr(kr, name)) == expected, name
        assert getattr(kr, name).__doc__ == builder.__doc__
        assert builder.__doc__.startswith(f"Builds {name}.")
        # The declaration's docstring points at the registry entry.
        assert f'model_info("{key}")' in declaration.__doc__


def _weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def test_a_builder_through_the_module_is_the_registry_builder():
    kwargs = dict(input_shape=(16, 16, 3), classes=5, reduction=4)
    keras.utils.set_random_seed(0)
    ours = applications.ResSENet20(**kwargs)
    keras.utils.set_random_seed(0)
    registry = models.get_builder("res_se_net_20")(**kwargs)
    assert [w.shape for w in ours.weights] == [
        w.shape for w in registry.weights]
    assert ours.count_params() == registry.count_params()
    for a, b in zip(_weights(ours), _weights(registry)):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype(
        "float32")
    np.testing.assert_array_equal(ours.predict(x, verbose=0),
                                  registry.predict(x, verbose=0))


def test_unknown_hyperparameters_keep_the_registry_message():
    with pytest.raises(TypeError, match="Accepted hyperparameters: "
                       "reduction"):
        applications.ResSENet20(reductio=4)


def test_a_declaration_of_a_removed_network_names_the_command():
    def Gone(include_top=True):
        """Gone."""

    stub = applications._registered("no_such_network")(Gone)
    assert stub.__name__ == "Gone"
    with pytest.raises(RuntimeError, match="gen_applications.py --write"):
        stub()


def test_defaults_are_written_as_literals(generator):
    assert generator._literal("first") == '"first"'
    assert generator._literal((1, 2)) == "(1, 2)"
    assert generator._literal((8,)) == "(8,)"
    assert generator._literal(None) == "None"
    with pytest.raises(ValueError, match="no literal form"):
        generator._literal(object())
