"""Two-stage fine-tuning: frozen base with BN in inference mode, then the
base at a lower learning rate, its BN trained or kept frozen."""

import os

import keras
import numpy as np
import pytest

import keras_resvariants as kr
from keras_resvariants import fine_tune as ft
from tests.testing import load_script

HPARAMS = {"depth": 26, "width": 0.0625}
SHAPE = (16, 16, 1)


def _values(weights):
    return {w.path: keras.ops.convert_to_numpy(w).copy() for w in weights}


def _randomize(model):
    rng = np.random.default_rng(0)
    for w in model.weights:
        value = rng.normal(0.0, 0.1, tuple(w.shape)).astype("float32")
        if w.path.endswith("variance"):
            value = np.abs(value) + 0.5
        w.assign(value)


def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, *SHAPE)).astype("float32")
    y = rng.integers(0, 3, (32,)).astype("int32")
    return x, y


@pytest.fixture
def pretrained(tmp_path):
    """A no-top weights file with non-trivial BN statistics, and a model
    with a new 3-class head built from it by `build_fine_tune_model`."""
    source = kr.ResNetCifar(include_top=False, input_shape=SHAPE, **HPARAMS)
    _randomize(source)
    path = str(tmp_path / "base.weights.h5")
    source.save_weights(path)
    model = ft.build_fine_tune_model("resnet_cifar", path, classes=3,
                                     input_shape=SHAPE, **HPARAMS)
    return (source, model, *_data())


@pytest.fixture
def small():
    """A ResNet-8 (one basic block per stage) with random weights and BN
    statistics and a new head: the fits stay fast."""
    from keras_resvariants.models.resnet import cifar_basic

    base = kr.models.build_model(cifar_basic(8), include_top=False,
                                 input_shape=SHAPE)
    _randomize(base)
    return (base, ft.replace_head(base, 3), *_data())


def _bn_statistics(base):
    return [w for layer in ft.batch_norm_layers(base)
            for w in (layer.moving_mean, layer.moving_variance)]


def test_replace_head_structure(pretrained):
    source, model, _, _ = pretrained
    assert [layer.name for layer in model.layers] == [
        "image", "base", "avg_pool", "predictions"]
    base = model.get_layer("base")
    # The base holds the pretrained weights.
    loaded = _values(base.weights)
    for path, value in _values(source.weights).items():
        np.testing.assert_array_equal(loaded[path], value, err_msg=path)
    assert model.output.shape[-1] == 3
    with_dropout = ft.replace_head(source, 7, dropout=0.5)
    assert with_dropout.get_layer("head_dropout").rate == 0.5
    # replace_head shares the variables of the model it is given.
    shared = with_dropout.get_layer("base").weights
    assert [id(w) for w in shared] == [id(w) for w in source.weights]
    with pytest.raises(ValueError, match="`classes`"):
        ft.replace_head(source, 0)
    with pytest.raises(ValueError, match="`optimizer`"):
        ft.fine_tune(model, np.zeros((1, *SHAPE)), np.zeros((1,)),
                     optimizer="rmsprop")


def test_frozen_base_fit_changes_only_the_head(small):
    _, model, x, y = small
    base = model.get_layer("base")
    statistics = _bn_statistics(base)
    assert statistics  # the network has BatchNormalization layers
    base_before = _values(base.weights)
    head_before = _values(model.get_layer("predictions").weights)

    result = ft.fine_tune(model, x, y, batch_size=16, head_epochs=2,
                          fine_tune_epochs=0, learning_rate=1e-2, verbose=0,
                          jit_compile=False)

    assert result.fine_tune is None and len(result.head.epoch) == 2
    assert not base.trainable
    for path, value in _values(base.weights).items():
        np.testing.assert_array_equal(value, base_before[path],
                                      err_msg=path)
    head_after = _values(model.get_layer("predictions").weights)
    for path, value in head_after.items():
        assert not np.array_equal(value, head_before[path]), path


@pytest.mark.parametrize("batch_norm", ["train", "frozen"])
def test_second_stage_trains_the_base_and_batch_norm_as_asked(small,
                                                              batch_norm):
    _, model, x, y = small
    base = model.get_layer("base")
    stats_before = _values(_bn_statistics(base))
    bn_affine = [w for layer in ft.batch_norm_layers(base)
                 for w in (layer.gamma, layer.beta)]
    affine_before = _values(bn_affine)
    kernels = [layer.kernel for layer in base.layers
               if isinstance(layer, keras.layers.Conv2D)]
    kernels_before = _values(kernels)

    kwargs = {} if batch_norm == "train" else {"batch_norm": batch_norm}
    result = ft.fine_tune(model, x, y, batch_size=16, head_epochs=1,
                          fine_tune_epochs=1, learning_rate=1e-2,
                          verbose=0, jit_compile=False, **kwargs)

    assert result.fine_tune.epoch == [1]
    # 10x lower learning rate in stage 2.
    lr = keras.ops.convert_to_numpy(model.optimizer.learning_rate)
    np.testing.assert_allclose(lr, 1e-3, rtol=1e-6)
    assert base.trainable
    frozen = batch_norm == "frozen"
    assert all(layer.trainable is not frozen
               for layer in ft.batch_norm_layers(base))
    for path, value in _values(kernels).items():
        assert not np.array_equal(value, kernels_before[path]), path
    # Frozen: the pretrained statistics and affine parameters are kept
    # exactly; trained (the default): every one of them moves.
    for before, after in ((stats_before, _values(_bn_statistics(base))),
                          (affine_before, _values(bn_affine))):
        for path, value in after.items():
            assert np.array_equal(value, before[path]) is frozen, path
    with pytest.raises(ValueError, match="`batch_norm`.*'bogus'"):
        ft.fine_tune(model, x, y, batch_norm="bogus", verbose=0)


def _example():
    pytest.importorskip("sklearn")
    return load_script(os.path.join("examples", "fine_tune.py"),
                       "fine_tune_example")


def test_the_example_prepares_digits_like_fashion_mnist():
    example = _example()
    images, labels = example.load_digits_28()
    assert images.shape == (1797, 28, 28, 1) and images.dtype == np.uint8
    assert images.max() == 255 and images.min() == 0
    assert sorted(set(labels.tolist())) == list(range(10))


def test_the_example_draws_labelled_subsets_per_class_and_seed():
    example = _example()
    labels = np.repeat(np.arange(10), 30)
    subsets = [example.labelled_subset(labels, 5, seed) for seed in (0, 1)]
    for index in subsets:
        np.testing.assert_array_equal(np.bincount(labels[index]), [5] * 10)
        assert len(set(index.tolist())) == 50
    assert not np.array_equal(*subsets)
    np.testing.assert_array_equal(example.labelled_subset(labels, 5, 0),
                                  subsets[0])
    assert len(example.labelled_subset(labels, None, 0)) == 300
    # Equal budget in images seen: 4800 images of 50 is 96 epochs.
    assert example.schedule(50, 4800) == (36, 60)
    assert sum(example.schedule(1257, 4800)) == 4


def test_the_fine_tuning_table_at_tiny_scale(tmp_path, capsys):
    """The example's whole table path on 2 labels per class, one seed,
    two epochs: every arm gives a test accuracy over the 540 test digits,
    the report holds the printed table, and an unknown tag is one line
    and exit status 2."""
    example = _example()
    report = tmp_path / "table.md"
    assert example.main(["--sizes", "2", "--seeds", "0", "--images", "40",
                         "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines()
            if line.startswith("| 2 per class |")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1] == "20"
    assert len(cells) == len(example.ARMS) + 3
    for cell in cells[2:2 + len(example.ARMS)]:
        value = float(cell.split(" ± ")[0]) / 100
        assert 0.0 <= value <= 1.0
        # A count of correct test digits out of 540 (printed to 0.01%:
        # within 540 * 0.00005 of an integer).
        assert abs(value * 540 - round(value * 540)) < 0.03
    assert rows[0] in report.read_text()
    assert example.main(["--tag", "no_such_tag"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "no_such_tag" in error[0]
