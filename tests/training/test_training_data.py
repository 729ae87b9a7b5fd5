"""Data pipelines: Fashion-MNIST from IDX files, tfds CIFAR (mocked), the
offline error, augmentation, normalisation, seeds, sharding, padding."""

import os

import numpy as np
import pytest

from keras_resvariants import data
from tests.reference.training_ref import match_crop_flip_ref
from tests.reference.training_ref import read_idx_images_ref
from tests.reference.training_ref import read_idx_labels_ref

FM_DIR = data.FASHION_MNIST_DIR
needs_fm = pytest.mark.skipif(
    not os.path.exists(os.path.join(FM_DIR, "t10k-images-idx3-ubyte.gz")),
    reason="Debian's dataset-fashion-mnist is not installed",
)
INFO = data.DATASETS["fashion_mnist"]


def _tf():
    return pytest.importorskip("tensorflow")


def _batches(dataset, count):
    """First `count` batches of a tf.data dataset or a PyDataset, as NumPy."""
    if hasattr(dataset, "take"):
        return [tuple(np.asarray(t) for t in b)
                for b in dataset.take(count)]
    return [tuple(np.asarray(t) for t in dataset[i]) for i in range(count)]


def _raw_to_pixels(normalized):
    """Inverts the normalisation back to uint8 pixels."""
    x = normalized * np.asarray(INFO.std) + np.asarray(INFO.mean)
    return np.rint(x * 255.0).astype(np.uint8)


@pytest.fixture(scope="module")
def fashion():
    if not os.path.exists(FM_DIR):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    return data.load_fashion_mnist()


@needs_fm
def test_idx_reader_matches_fixed_offset_parse(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    ref_x = read_idx_images_ref(os.path.join(FM_DIR,
                                             "t10k-images-idx3-ubyte.gz"))
    ref_y = read_idx_labels_ref(os.path.join(FM_DIR,
                                             "t10k-labels-idx1-ubyte.gz"))
    assert x_test.shape == (10000, 28, 28, 1) and x_test.dtype == np.uint8
    assert x_train.shape == (60000, 28, 28, 1)
    assert y_train.dtype == np.int32 and y_test.dtype == np.int32
    np.testing.assert_array_equal(x_test[..., 0], ref_x)
    np.testing.assert_array_equal(y_test, ref_y)
    assert sorted(np.unique(y_train)) == list(range(10))


@needs_fm
def test_normalisation_constants_are_the_training_statistics(fashion):
    (x_train, _), _ = fashion
    histogram = np.bincount(x_train.ravel(), minlength=256)
    levels = np.arange(256) / 255.0
    count = histogram.sum()
    mean = (histogram * levels).sum() / count
    std = np.sqrt((histogram * (levels - mean) ** 2).sum() / count)
    np.testing.assert_allclose(mean, INFO.mean[0], atol=5e-5)
    np.testing.assert_allclose(std, INFO.std[0], atol=5e-5)


def test_missing_fashion_mnist_names_data_dir(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        data.load_fashion_mnist(str(tmp_path))
    message = str(info.value)
    assert "data_dir=" in message and str(tmp_path) in message
    assert "dataset-fashion-mnist" in message


def test_read_idx_rejects_truncated_file(tmp_path):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(str(path))


def test_split_indices_hold_out_is_disjoint_and_seeded():
    train, val = data.split_indices(100, validation_split=0.2, seed=1)
    assert len(val) == 20 and len(train) == 80
    assert not set(train) & set(val)
    assert sorted(np.concatenate([train, val])) == list(range(100))
    again, val_again = data.split_indices(100, validation_split=20, seed=1)
    np.testing.assert_array_equal(val, val_again)
    _, other = data.split_indices(100, validation_split=20, seed=2)
    assert not np.array_equal(val, other)
    subset, _ = data.split_indices(100, validation_split=0.2,
                                   train_subset=10, seed=1)
    np.testing.assert_array_equal(subset, train[:10])
    with pytest.raises(ValueError, match="validation_split"):
        data.split_indices(100, validation_split=100)


def test_global_batch_is_per_replica_times_replicas():
    assert data.global_batch_size(16, 4) == 16 * 4
    with pytest.raises(ValueError, match="num_replicas"):
        data.global_batch_size(16, 0)


@needs_fm
@pytest.mark.parametrize("pipeline", ["numpy", "tf.data"])
def test_train_batches_shapes_normalisation_and_one_pass(fashion, pipeline):
    if pipeline == "tf.data":
        _tf()
    (x_train, y_train), _ = fashion
    n, batch = 96, 32
    splits = data.make_datasets(
        "fashion_mnist", batch_size=batch, train_subset=n, augment=False,
        seed=0, pipeline=pipeline,
    )
    assert splits.steps_per_epoch == n // batch
    assert splits.pipeline == pipeline
    batches = _batches(splits.train, splits.steps_per_epoch)
    for x, y in batches:
        assert x.shape == (batch, 28, 28, 1) and x.dtype == np.float32
        assert y.shape == (batch,) and y.dtype == np.int32
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    # Normalisation: (x / 255 - mean) / std, computed here independently.
    expected = (x_train[:n].astype(np.float32) / 255.0 - INFO.mean[0]) / (
        INFO.std[0])
    # One epoch is a shuffled pass over exactly the subset.
    order = np.lexsort(images.reshape(n, -1).T)
    ref_order = np.lexsort(expected.reshape(n, -1).T)
    np.testing.assert_allclose(images[order], expected[ref_order], atol=1e-5)
    np.testing.assert_array_equal(labels[order], y_train[:n][ref_order])
    assert not np.array_equal(labels, y_train[:n])  # shuffled


@needs_fm
@pytest.mark.parametrize("pipeline", ["numpy", "tf.data"])
def test_augmentation_is_pad4_crop_and_flip_and_varies(fashion, pipeline):
    if pipeline == "tf.data":
        _tf()
    (x_train, _), _ = fashion
    n = 40
    splits = data.make_datasets("fashion_mnist", batch_size=n,
                                train_subset=n, seed=5, pipeline=pipeline)
    (x, _), = _batches(splits.train, 1)
    pixels = _raw_to_pixels(x)
    originals = x_train[:n]
    # Find each augmented image's source (augmentation keeps the pixel
    # multiset except for what the crop cuts off, so match by search).
    keys = []
    for image in pixels:
        found = None
        for original in originals:
            matches = match_crop_flip_ref(image, original, padding=4)
            if matches:
                found = matches
                break
        assert found, "augmented image is not a pad-4 crop/flip of the data"
        keys.append(found[0])
    offsets = {(dy, dx) for dy, dx, _ in keys}
    flips = {flip for _, _, flip in keys}
    assert len(offsets) > 10 and flips == {True, False}


@needs_fm
@pytest.mark.parametrize("pipeline", ["numpy", "tf.data"])
def test_same_seed_same_batches_other_seed_differs(pipeline):
    if pipeline == "tf.data":
        _tf()

    def first(seed):
        splits = data.make_datasets("fashion_mnist", batch_size=16,
                                    train_subset=64, seed=seed,
                                    pipeline=pipeline)
        return _batches(splits.train, 5)  # crosses an epoch boundary

    a, b, c = first(3), first(3), first(4)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    # A new pass over the data is shuffled differently.
    assert not np.array_equal(a[0][1], a[4][1])


@needs_fm
def test_process_shards_make_up_the_global_batch():
    full = data.make_datasets("fashion_mnist", batch_size=12,
                              train_subset=48, seed=2, pipeline="numpy")
    shards = [
        data.make_datasets("fashion_mnist", batch_size=12, train_subset=48,
                           seed=2, pipeline="numpy", shard_index=i,
                           num_shards=3)
        for i in range(3)
    ]
    assert full.steps_per_epoch == 4
    for step in range(6):  # crosses an epoch boundary
        if step == 4:
            full.train.on_epoch_end()
            for s in shards:
                s.train.on_epoch_end()
        x, y = full.train[step % 4]
        parts = [s.train[step % 4] for s in shards]
        np.testing.assert_array_equal(
            np.concatenate([p[0] for p in parts]), x)
        np.testing.assert_array_equal(
            np.concatenate([p[1] for p in parts]), y)


@needs_fm
@pytest.mark.parametrize("pipeline", ["numpy", "tf.data"])
@pytest.mark.parametrize("num_shards", [1, 3])
def test_eval_batches_are_padded_with_zero_weight(fashion, pipeline,
                                                  num_shards):
    if pipeline == "tf.data":
        _tf()
    _, (x_test, y_test) = fashion
    n, batch = 100, 30
    seen_x, seen_y, counts = [], [], set()
    for shard in range(num_shards):
        splits = data.make_datasets(
            "fashion_mnist", batch_size=batch, train_subset=30,
            test_subset=n, pipeline=pipeline, shard_index=shard,
            num_shards=num_shards,
        )
        assert splits.test_examples == n
        batches = _batches(splits.test, 10**6 if pipeline == "tf.data"
                           else len(splits.test))
        counts.add(len(batches))
        for x, y, w in batches:
            assert x.shape == (batch // num_shards, 28, 28, 1)
            assert set(np.unique(w)) <= {0.0, 1.0}
            seen_x.append(x[w == 1])
            seen_y.append(y[w == 1])
    assert len(counts) == 1  # every process runs the same number of steps
    x = np.concatenate(seen_x)
    y = np.concatenate(seen_y)
    assert len(x) == n
    expected = (x_test[:n] / 255.0 - INFO.mean[0]) / INFO.std[0]
    order = np.lexsort(x.reshape(n, -1).T)
    ref_order = np.lexsort(expected.reshape(n, -1).T)
    np.testing.assert_allclose(x[order], expected[ref_order], atol=1e-5)
    np.testing.assert_array_equal(y[order], y_test[:n][ref_order])


@needs_fm
def test_validation_split_pipeline():
    splits = data.make_datasets("fashion_mnist", batch_size=32,
                                validation_split=64, train_subset=128,
                                pipeline="numpy")
    assert splits.validation_examples == 64 and splits.train_examples == 128
    weights = [splits.validation[i][2] for i in range(len(
        splits.validation))]
    assert float(np.sum(weights)) == 64


def test_invalid_arguments_name_the_argument():
    with pytest.raises(ValueError, match="dataset"):
        data.make_datasets("mnist", batch_size=8)
    with pytest.raises(ValueError, match="batch_size"):
        data.make_datasets("fashion_mnist", batch_size=10, num_shards=3)
    with pytest.raises(ValueError, match="pipeline"):
        data.make_datasets("cifar10", batch_size=8, pipeline="numpy")


def test_tfds_offline_error_names_data_dir_and_tfds_build(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    empty = str(tmp_path / "tfds")
    with pytest.raises(FileNotFoundError) as info:
        data.make_datasets("cifar10", batch_size=8, data_dir=empty,
                           download=False)
    message = str(info.value)
    assert f"data_dir={empty!r}" in message
    assert f"tfds build cifar10 --data_dir {empty}" in message
    assert not isinstance(info.value, AssertionError)


def test_tfds_cifar10_through_mock_data():
    _tf()
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40):
        splits = data.make_datasets("cifar10", batch_size=8,
                                    validation_split=16, test_subset=20,
                                    seed=1)
        (x, y), = _batches(splits.train, 1)
        test = _batches(splits.test, 100)
        validation = _batches(splits.validation, 100)
    assert splits.pipeline == "tf.data"
    assert x.shape == (8, 32, 32, 3) and x.dtype == np.float32
    assert y.dtype == np.int32 and ((0 <= y) & (y < 10)).all()
    # Values are normalised uint8 pixels: inverting gives integers 0..255.
    pixels = x * np.asarray(data.DATASETS["cifar10"].std) + np.asarray(
        data.DATASETS["cifar10"].mean)
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6
    np.testing.assert_allclose(pixels * 255, np.rint(pixels * 255),
                               atol=1e-3)
    assert sum(float(b[2].sum()) for b in test) == splits.test_examples
    assert sum(float(b[2].sum()) for b in validation) == (
        splits.validation_examples)
    assert all(b[0].shape == (8, 32, 32, 3) for b in test)


def _pixels(x, name):
    info = data.DATASETS[name]
    pixels = (x * np.asarray(info.std) + np.asarray(info.mean)) * 255.0
    return np.rint(pixels).astype(np.uint8)


def test_tfds_hold_out_is_seeded_random_and_disjoint_from_training():
    _tf()
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40):
        full = [np.asarray(x) for x, _ in data.load_tfds("cifar10", "train")]
        where = {image.tobytes(): i for i, image in enumerate(full)}
        assert len(where) == 40  # the mock images are distinct

        def positions(batches):
            return sorted(where[image.tobytes()] for image in batches)

        def draw(validation_seed, batch=10, **kwargs):
            splits = data.make_datasets(
                "cifar10", batch_size=batch, validation_split=10,
                validation_seed=validation_seed, augment=False, seed=0,
                **kwargs)
            val = [(_pixels(x, "cifar10"), w) for x, _, w in
                   _batches(splits.validation, 100)]
            held = positions([p for x, w in val for p in x[w == 1]])
            # One epoch of the training pipeline is one shuffled pass.
            train = positions([p for x, _ in _batches(
                splits.train, splits.steps_per_epoch)
                for p in _pixels(x, "cifar10")])
            return splits, held, train

        splits, held, train = draw(3)
        again, held_again, _ = draw(3)
        _, other, _ = draw(4)
        subset, held_subset, train_subset = draw(3, batch=4, train_subset=12)
        auto = data.make_datasets("cifar10", batch_size=8,
                                  validation_split="auto", seed=0)
    assert splits.validation_examples == len(held) == 10
    assert held == list(splits.validation_indices)
    assert held != list(range(30, 40))  # not the last 10
    assert train == list(splits.train_indices) and len(train) == 30
    assert not set(held) & set(train)
    assert held_again == held and other != held
    # A training subset is the first examples outside the same hold-out.
    assert held_subset == held
    assert train_subset == train[:12] == list(subset.train_indices)
    assert subset.train_examples == 12
    assert auto.validation_examples == 4  # 10% of the 40 mock images


def test_inception_crop_and_centre_crop():
    tf = _tf()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    crops = [
        np.asarray(data.inception_crop_tf(tf.constant(image),
                                          tf.constant([s, 0], tf.int64),
                                          size=24))
        for s in range(4)
    ]
    assert all(c.shape == (24, 24, 3) for c in crops)
    assert len({c.tobytes() for c in crops}) == 4
    # Centre crop of an image whose short side already equals `resize`:
    # no resampling, so it is a plain slice.
    centre = np.asarray(data.center_crop_tf(tf.constant(image), size=32,
                                            resize=40))
    np.testing.assert_allclose(centre, image[4:36, 14:46], atol=1e-3)
