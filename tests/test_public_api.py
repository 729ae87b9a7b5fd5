"""The public namespace: exports, registration, docstrings."""

import inspect

import keras

import keras_resvariants as kr


def test_all_is_importable():
    for name in kr.__all__:
        assert hasattr(kr, name), name
    for name in kr.layers.__all__:
        assert hasattr(kr.layers, name), name


def test_every_layer_is_registered_and_documented():
    for name in kr.layers.__all__:
        cls = getattr(kr.layers, name)
        assert keras.saving.get_registered_name(cls) == (
            f"keras_resvariants>{name}")
        doc = inspect.getdoc(cls)
        assert doc and "Args:" in doc, name


def test_every_registered_model_has_a_public_builder():
    for key in kr.list_models():
        name = kr.model_info(key)["builder"]
        assert name in kr.__all__
        assert getattr(kr, name).__name__ == name
