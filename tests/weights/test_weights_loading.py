"""Loading published weights: local files, tags, download, the checks that
run before any variable is assigned, head skipping, preprocessing."""

import json
import logging
import os
import shutil

import keras
import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants.weights import loading
from tests.weights.weights_helpers import ARCH
from tests.weights.weights_helpers import HPARAMS
from tests.weights.weights_helpers import NAME
from tests.weights.weights_helpers import SHAPE
from tests.weights.weights_helpers import TAG
from tests.weights.weights_helpers import copy_weights
from tests.weights.weights_helpers import weights_by_path

HEAD = ("predictions",)


def _out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _snapshot(model):
    return [keras.ops.convert_to_numpy(w).copy() for w in model.weights]


def _assert_untouched(model, before):
    after = _snapshot(model)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


# --------------------------------------------------------------------------
# Local files (keras.applications semantics)


def test_local_file_loading_is_bit_exact(published):
    top_path = os.path.join(published.weights_dir, published.record.top.name)
    notop_path = os.path.join(published.weights_dir,
                              published.record.notop.name)
    model = kr.ResNetCifar(weights=top_path, input_shape=SHAPE, classes=10,
                           **HPARAMS)
    np.testing.assert_array_equal(_out(model, published.x), published.top)
    base = kr.ResNetCifar(include_top=False, weights=notop_path,
                          input_shape=SHAPE, **HPARAMS)
    np.testing.assert_array_equal(_out(base, published.x), published.notop)
    pooled = kr.ResNetCifar(include_top=False, weights=notop_path,
                            input_shape=SHAPE, pooling="avg", **HPARAMS)
    np.testing.assert_allclose(_out(pooled, published.x),
                               published.notop.mean(axis=(1, 2)),
                               rtol=1e-5, atol=1e-6)


def test_local_file_with_input_tensor_from_a_preceding_layer(published):
    top_path = os.path.join(published.weights_dir, published.record.top.name)
    inputs = keras.Input(SHAPE)
    # A weighted layer before the network: not part of the file.
    x = keras.layers.Conv2D(1, 1, name="pre_conv")(inputs)
    model = kr.ResNetCifar(weights=top_path, input_tensor=x, classes=10,
                           **HPARAMS)
    loaded = weights_by_path(model, skip=("pre_conv",))
    assert loaded.keys() == published.source_weights.keys()
    for path, value in published.source_weights.items():
        np.testing.assert_array_equal(loaded[path], value, err_msg=path)


# --------------------------------------------------------------------------
# Tags


def test_tag_loading_is_bit_exact_with_the_record_defaults(weights_env):
    published = weights_env
    # No shape, classes or hyperparameters: the record supplies them.
    model = kr.ResNetCifar(weights=TAG)
    assert tuple(model.input.shape[1:]) == SHAPE
    assert model.output.shape[-1] == 10
    np.testing.assert_array_equal(_out(model, published.x), published.top)
    by_name = kr.create_model(ARCH, weights=NAME)
    np.testing.assert_array_equal(_out(by_name, published.x),
                                  published.top)


def test_tag_without_top_loads_the_notop_file_at_any_size(weights_env):
    published = weights_env
    base = kr.ResNetCifar(include_top=False, weights=TAG)
    assert tuple(base.input.shape[1:]) == (None, None, 1)
    np.testing.assert_array_equal(_out(base, published.x), published.notop)
    # Another spatial size: same weights, features of the new size.
    other = kr.ResNetCifar(include_top=False, weights=TAG,
                           input_shape=(40, 36, 1), pooling="avg")
    assert tuple(other.output.shape) == (None, 128)
    loaded = weights_by_path(other)
    for path, value in loaded.items():
        np.testing.assert_array_equal(value, published.source_weights[path])


def test_unknown_tag_lists_the_architectures_tags(weights_env):
    with pytest.raises(ValueError) as err:
        kr.ResNetCifar(weights="cifar10")
    message = str(err.value)
    assert "`weights`" in message and "Received: weights='cifar10'" in message
    assert "'fashion_mnist'" in message
    with pytest.raises(ValueError, match="resnet_20 has none"):
        kr.ResNet20(weights=TAG)


def test_input_shape_must_fit_the_weights(weights_env):
    with pytest.raises(ValueError, match="1 channel") as err:
        kr.ResNetCifar(weights=TAG, input_shape=(28, 28, 3))
    assert "`input_shape`" in str(err.value)
    with pytest.raises(ValueError, match="include_top=False") as err:
        kr.ResNetCifar(weights=TAG, input_shape=(32, 32, 1))
    assert "Received: input_shape=(32, 32, 1)" in str(err.value)
    with pytest.raises(ValueError, match="`input_shape`"):
        kr.ResNetCifar(weights=TAG, include_top=False,
                       input_shape=(4, 4, 1))
    with pytest.raises(ValueError, match="`classifier_activation`"):
        kr.ResNetCifar(weights=TAG, classifier_activation="sigmoid")


def test_tag_with_input_tensor_from_a_preceding_layer(weights_env):
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(1, 1, name="pre_conv")(inputs)
    model = kr.ResNetCifar(weights=TAG, input_tensor=x)
    loaded = weights_by_path(model, skip=("pre_conv",))
    for path, value in weights_env.source_weights.items():
        np.testing.assert_array_equal(loaded[path], value, err_msg=path)


# --------------------------------------------------------------------------
# Download through keras.utils.get_file (file:// URL, temporary cache)


def test_download_from_a_url_into_the_keras_cache(weights_env, tmp_path,
                                                  monkeypatch):
    published = weights_env
    served = tmp_path / "served"
    copy_weights(published, served)
    monkeypatch.setenv(loading.WEIGHTS_DIR_ENV, str(tmp_path / "empty"))
    monkeypatch.setenv(loading.BASE_URL_ENV, served.as_uri())
    model = kr.ResNetCifar(weights=TAG)
    np.testing.assert_array_equal(_out(model, published.x), published.top)
    cached = (tmp_path / "keras_home" / loading.CACHE_SUBDIR
              / published.record.top.name)
    assert cached.is_file()
    # Second time from the cache, even with the server gone.
    shutil.rmtree(served)
    again = loading.resolve_weights_file(NAME, include_top=True)
    assert os.path.samefile(again, cached)


def test_download_with_a_wrong_hash_fails_and_is_not_cached(weights_env,
                                                            tmp_path,
                                                            monkeypatch):
    served = tmp_path / "served"
    top, _ = copy_weights(weights_env, served)
    with open(top, "ab") as f:
        f.write(b"tampered")
    monkeypatch.setenv(loading.WEIGHTS_DIR_ENV, str(tmp_path / "empty"))
    monkeypatch.setenv(loading.BASE_URL_ENV, served.as_uri() + "/")
    with pytest.raises(ValueError, match="sha256"):
        kr.ResNetCifar(weights=TAG)
    cached = (tmp_path / "keras_home" / loading.CACHE_SUBDIR
              / weights_env.record.top.name)
    assert not cached.exists()


def test_no_file_and_no_url_says_where_to_put_it(weights_env, tmp_path,
                                                  monkeypatch):
    monkeypatch.setenv(loading.WEIGHTS_DIR_ENV, str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match=loading.WEIGHTS_DIR_ENV):
        kr.ResNetCifar(weights=TAG)


# --------------------------------------------------------------------------
# Checks before any variable is assigned


def test_bad_checksum_of_a_local_file_changes_nothing(weights_env, tmp_path,
                                                      monkeypatch):
    top, _ = copy_weights(weights_env, tmp_path / "corrupt")
    with open(top, "r+b") as f:  # flip one byte of the weights
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0xFF
        f.seek(0)
        f.write(data)
    monkeypatch.setenv(loading.WEIGHTS_DIR_ENV, str(tmp_path / "corrupt"))
    model = kr.ResNetCifar(input_shape=SHAPE, classes=10, **HPARAMS)
    before = _snapshot(model)
    with pytest.raises(ValueError, match="sha256") as err:
        kr.load_pretrained(model, NAME)
    assert top in str(err.value)
    _assert_untouched(model, before)
    with pytest.raises(ValueError, match="sha256"):
        kr.ResNetCifar(weights=TAG)


def test_wrong_architecture_changes_nothing(weights_env):
    # Other hyperparameters: a different weight structure.
    model = kr.ResNetCifar(input_shape=SHAPE, classes=10, depth=26,
                           width=0.125)
    before = _snapshot(model)
    with pytest.raises(ValueError, match="fingerprint") as err:
        kr.load_pretrained(model, NAME)
    assert "`weights`" in str(err.value)
    assert "'width': 0.0625" in str(err.value)
    _assert_untouched(model, before)
    # Another network altogether.
    other = kr.ResNet20(input_shape=SHAPE, classes=10)
    before = _snapshot(other)
    with pytest.raises(ValueError, match="fingerprint"):
        kr.load_pretrained(other, NAME)
    _assert_untouched(other, before)
    # Through the builder: no model comes back.
    with pytest.raises(ValueError, match="fingerprint"):
        kr.ResNetCifar(weights=TAG, width=0.125)


# --------------------------------------------------------------------------
# A different class count: everything but the head, said loudly


def test_class_mismatch_loads_all_but_the_head(weights_env, caplog):
    published = weights_env
    with caplog.at_level(logging.WARNING, logger="keras_resvariants"):
        model = kr.ResNetCifar(weights=TAG, classes=5)
    assert "NOT loaded" in caplog.text and "classes=5" in caplog.text
    loaded = weights_by_path(model, skip=HEAD)
    expected = {p: v for p, v in published.source_weights.items()
                if not p.startswith("predictions/")}
    assert loaded.keys() == expected.keys()
    for path, value in expected.items():
        np.testing.assert_array_equal(loaded[path], value, err_msg=path)
    head = model.get_layer("predictions").kernel
    assert tuple(head.shape) == (128, 5)
    assert not np.allclose(keras.ops.convert_to_numpy(head),
                           published.source_weights["predictions/kernel"]
                           [:, :5])
    fresh = kr.ResNetCifar(input_shape=SHAPE, classes=5, **HPARAMS)
    # And on an existing model, the same through load_pretrained.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="keras_resvariants"):
        assert kr.load_pretrained(fresh, NAME) is False
    assert "NOT loaded" in caplog.text
    with caplog.at_level(logging.WARNING, logger="keras_resvariants"):
        caplog.clear()
        same = kr.ResNetCifar(weights=TAG)
    assert "NOT loaded" not in caplog.text
    np.testing.assert_array_equal(_out(same, published.x), published.top)


# --------------------------------------------------------------------------
# Registry and preprocessing


def test_list_weights_and_weights_info(weights_env):
    assert kr.list_weights() == [NAME]
    assert kr.list_weights(ARCH) == [NAME]
    assert kr.list_weights("ResNet20") == []
    record = kr.weights_info(NAME)
    assert (record.arch, record.tag, record.classes) == (ARCH, TAG, 10)
    assert record.input_shape == SHAPE
    assert record.hyperparameters == HPARAMS
    for entry in (record.top, record.notop):
        path = os.path.join(weights_env.weights_dir, entry.name)
        assert kr.weights.sha256_file(path) == entry.sha256
        assert os.path.getsize(path) == entry.size
    with pytest.raises(ValueError, match="Received: name='nope.x'"):
        kr.weights_info("nope.x")


def test_preprocess_input_matches_the_record(weights_env):
    record = kr.weights_info(NAME)
    images = np.random.default_rng(1).integers(0, 256, (3, 28, 28, 1),
                                               dtype=np.uint8)
    mean = np.asarray(record.preprocessing.mean, "float32")
    std = np.asarray(record.preprocessing.std, "float32")
    expected = (images.astype("float32") / np.float32(255.0) - mean) / std
    for key in (NAME, record):
        got = keras.ops.convert_to_numpy(kr.preprocess_input(images, key))
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    # The transform the training pipeline applied to Fashion-MNIST.
    from keras_resvariants import data

    info = data.DATASETS["fashion_mnist"]
    np.testing.assert_allclose(data.normalize_numpy(images, info), expected,
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="`preprocessing`"):
        kr.preprocess_input(images, "resnet_20.imagenet")


# --------------------------------------------------------------------------
# In-process records and weights directory (what publishing uses)


def test_use_records_and_weights_dir_resolve_without_the_environment(
        published, monkeypatch, tmp_path):
    from keras_resvariants.weights import registry

    # Outside the blocks: an empty records file, from the environment.
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"format_version": registry.FORMAT_VERSION,
                                 "records": {}}))
    monkeypatch.setenv(registry.RECORDS_ENV, str(empty))
    monkeypatch.delenv(loading.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.setattr(loading, "REPO_WEIGHTS_DIR",
                        str(tmp_path / "no_repo_dir"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    environ = dict(os.environ)
    assert kr.list_weights() == []
    with registry.use_records(published.records), \
            loading.use_weights_dir(published.weights_dir):
        assert NAME in kr.list_weights()
        assert dict(os.environ) == environ
        model = kr.create_model(ARCH, weights=TAG, **HPARAMS)
        np.testing.assert_array_equal(_out(model, published.x),
                                      published.top)
    # After the blocks: the environment's records again.
    assert kr.list_weights() == []
    assert dict(os.environ) == environ
    with pytest.raises(ValueError, match=NAME):
        kr.weights_info(NAME)
