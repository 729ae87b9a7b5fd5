"""`tuning.search()` end to end on tiny data: every trial COMPLETED, the
best model reloads and predicts as before saving, failed trials raise.

Tiny budgets: 64 Fashion-MNIST training and 64 validation images, one
epoch, reduced widths/depths (fixed through `fixed`, which may leave the
papers' ranges), eager execution (tracing would dominate)."""

import json
import os

import keras
import keras_tuner as kt
import numpy as np
import pytest

import keras_resvariants  # noqa: F401  registers the layers for loading
from keras_resvariants import data
from keras_resvariants.training import weight_decay_penalty
from keras_resvariants.tuning import TrialsFailedError
from keras_resvariants.tuning import make_hypermodel
from keras_resvariants.tuning import make_tuner
from keras_resvariants.tuning import search

FM = os.path.exists("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not FM, reason="Debian's dataset-fashion-mnist is not installed")

TINY = {
    "ror": {"depth": 56, "width": 4},
    "rgs": {"depth": 26, "width": 0.125},
    "rir": {"blocks_per_stage": 1, "layers_per_block": 2},
    "res_se": {"depth": 20},
    "seqconv": {"k": 8, "r": 1, "blocks_per_stage": 1},
}
TRAINING = {"batch_size": 64}


def _validation_images(n_val, train_subset, seed=0):
    (x_all, y_all), _ = data.load_fashion_mnist()
    _, val = data.split_indices(len(x_all), validation_split=n_val,
                                train_subset=train_subset, seed=seed)
    info = data.DATASETS["fashion_mnist"]
    return data.normalize_numpy(x_all[val], info), np.asarray(y_all[val])


def _tiny_search(family, tmp_path, **kwargs):
    options = dict(
        tuner="random", max_trials=2, epochs=1, train_subset=64,
        validation_split=32, fixed={**TINY[family], **TRAINING},
        output_dir=str(tmp_path / family), run_eagerly=True, seed=3,
    )
    options.update(kwargs)
    return search(family, "fashion_mnist", **options)


@pytest.mark.parametrize("family", sorted(TINY))
def test_two_trial_search_completes_and_best_model_reloads(family,
                                                            tmp_path):
    result = _tiny_search(family, tmp_path)
    assert len(result.trials) == 2
    assert [t.status for t in result.trials] == ["COMPLETED"] * 2
    # Trials sample different points of the space, and every trial tuned
    # the training parameters in `fit`.
    assert (result.trials[0].hyperparameters
            != result.trials[1].hyperparameters)
    for trial in result.trials:
        values = trial.hyperparameters
        assert values["batch_size"] == 64
        assert 1e-3 <= values["learning_rate"] <= 0.2
        assert 1e-5 <= values["weight_decay"] <= 1e-3
        assert trial.score is not None and trial.error is None
    best = max(result.trials, key=lambda t: t.score)
    assert result.best.score == best.score
    # The best model at its best epoch reproduces the trial's score.
    assert result.validation["accuracy"] == pytest.approx(result.best.score,
                                                          abs=1e-6)

    paths = result.paths
    saved = json.load(open(paths["best_hyperparameters"]))
    assert saved["hyperparameters"] == result.best_hyperparameters
    assert saved["model"] == result.model_name
    results = json.load(open(paths["results"]))
    assert results["status"] == "completed"
    assert [t["status"] for t in results["trials"]] == ["COMPLETED"] * 2

    x, _ = _validation_images(32, 64, seed=3)
    # Direct calls (inference mode) rather than `predict`, which would
    # trace the deep graph.
    before = keras.ops.convert_to_numpy(
        result.best_model(x[:16], training=False))
    keras.backend.clear_session()
    reloaded = keras.saving.load_model(paths["best_model"])
    after = keras.ops.convert_to_numpy(reloaded(x[:16], training=False))
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)
    assert reloaded.name == result.model_name


def test_failing_trial_fails_the_search_with_its_error(tmp_path):
    # k=24 does not divide SeqResNet's stage widths 16r/32r/48r: building
    # that trial raises inside keras-tuner, which would carry on.
    fixed = {**TINY["seqconv"], **TRAINING, "block": "basic",
             "dense": False, "learning_rate": 0.05, "weight_decay": 1e-4}
    fixed.pop("k")
    with pytest.raises(TrialsFailedError) as info:
        _tiny_search("seqconv", tmp_path, fixed=fixed,
                     space={"k": [8, 24]}, fail_fast=False)
    error = info.value
    assert len(error.trials) == 2
    (failed,) = error.failed
    assert failed.hyperparameters["k"] == 24
    assert "`k` must divide every stage width" in failed.error
    assert "`k` must divide every stage width" in str(error)
    assert "ValueError" in failed.traceback
    results = json.load(open(error.results_path))
    assert results["status"] == "failed"
    assert "best" not in results
    assert not os.path.exists(tmp_path / "seqconv" / "best.keras")


def test_fail_fast_stops_at_the_first_failed_trial(tmp_path):
    fixed = {**TINY["rir"], **TRAINING, "learning_rate": 0.05,
             "weight_decay": 1e-4, "mode": "rir", "shortcut": "identity"}
    # transient_ratio 0.99 leaves no channel to the residual stream.
    with pytest.raises(TrialsFailedError, match="transient_ratio") as info:
        _tiny_search("rir", tmp_path, fixed=fixed, max_trials=4,
                     space={"transient_ratio": [0.5, 0.99]})
    statuses = [t.status for t in info.value.trials]
    assert statuses[-1] != "COMPLETED"
    assert len(statuses) <= 2


def test_fit_tunes_batch_size_learning_rate_and_weight_decay():
    # Graph mode here (the searches above run eagerly).
    hm = make_hypermodel("rir", input_shape=(28, 28, 1), classes=10,
                         fixed=TINY["rir"])
    hp = kt.HyperParameters()
    hp.Fixed("batch_size", 16)
    hp.Fixed("learning_rate", 0.03)
    hp.Fixed("weight_decay", 5e-4)
    model = hm.build(hp)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 48)
    history = hm.fit(hp, model, x, y, epochs=1, validation_data=(x, y),
                     verbose=0)
    assert "val_accuracy" in history.history
    # 48 images at batch 16: 3 optimizer steps.
    assert int(model.optimizer.iterations) == 3
    # The papers' coupled L2: (λ/2)·Σ||w||² on every trainable variable.
    expected = sum(0.5 * 5e-4 * float(np.sum(np.square(w.numpy())))
                   for w in model.trainable_weights)
    assert weight_decay_penalty(model) == pytest.approx(expected, rel=1e-4)
    # The recipe's schedule (He et al.'s steps for RiR, scaled to the 3
    # steps of the run) starts at the trial's learning rate.
    schedule = model.optimizer.get_config()["learning_rate"]["config"]
    assert schedule["values"] == pytest.approx([0.03, 0.003, 0.0003])


def test_fit_without_data_or_arrays_is_an_error():
    hm = make_hypermodel("rir", input_shape=(28, 28, 1), classes=10,
                         fixed=TINY["rir"], run_eagerly=True)
    hp = kt.HyperParameters()
    model = hm.build(hp)
    with pytest.raises(ValueError, match="in-memory arrays"):
        hm.fit(hp, model, [1, 2, 3])


def test_same_seed_samples_the_same_trials(tmp_path):
    def first_values(directory):
        hm = make_hypermodel("rir", input_shape=(28, 28, 1), classes=10,
                             fixed=TINY["rir"], run_eagerly=True)
        tuner = make_tuner("random", hm, max_trials=3, seed=0,
                           directory=str(directory))
        return [tuner.oracle.create_trial(f"t{i}").hyperparameters.values
                for i in range(2)]

    # keras-tuner reads seed 0 as "no seed"; ours is reproducible.
    assert first_values(tmp_path / "a") == first_values(tmp_path / "b")
