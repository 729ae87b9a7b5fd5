"""One network per family, end to end: forward, gradients, mixed precision,
a training step with `fit`, `.keras` reload of the trained state, and reload
in a fresh process.

Runs on every backend (the JAX and torch runs are launched by
tests/test_other_backends.py; the fresh-process reload, whose extra check
over the in-process one is the import-time registration of the custom
objects, runs on TensorFlow only).
"""

import keras
import numpy as np
import pytest

import keras_resvariants as kr
from tests.testing import assert_all_trainable_weights_get_gradients
from tests.testing import assert_models_reload_in_fresh_process

FAMILIES = {
    "resnet": ("ResNet20", {}),
    "ror": ("RoRResNet56", dict(width=16, drop_mode="sample")),
    "rgs": ("RGSNet", dict(width=0.25, variant="res")),
    "res_se": ("ResSENet20", {}),
    "rir": ("RiRNet32", {}),
    "seqconv": ("SeqResNet", dict(k=8, r=1)),
    # SeqResNeXt-24's blocks (the paper's subgroups) with one block per
    # stage at width 1 (stages of 64-512 channels; width 4 costs JAX's CPU
    # compiler 4x the time). The full network runs the keras.applications
    # contract in test_applications_contract.py.
    "seqconv_imagenet": ("SeqResNeXt24",
                         dict(blocks_per_stage=(1, 1, 1, 1), width=1)),
}


def _build(family, **kwargs):
    builder, hparams = FAMILIES[family]
    return getattr(kr, builder)(**hparams, **kwargs)


def _x(size, n=4, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, size, size, channels)).astype("float32")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fit_step_gradients_and_reload(family, tmp_path):
    size = 32
    model = _build(family, input_shape=(size, size, 3), classes=4)
    x, y = _x(size), np.array([0, 1, 2, 3])
    if "drop_rate" in kr.model_info(FAMILIES[family][0])["hyperparameters"]:
        # A dropped gate switches a residual off for the step; check the
        # gradients of an otherwise identical net without drop-layer.
        no_drop = _build(family, input_shape=(size, size, 3), classes=4,
                         drop_rate=0.0)
        assert_all_trainable_weights_get_gradients(
            no_drop, x, perturb_zero_weights=True)
    else:
        assert_all_trainable_weights_get_gradients(
            model, x, perturb_zero_weights=True)
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss="sparse_categorical_crossentropy")
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    after = [np.array(w) for w in model.trainable_weights]
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    # The trained state (moved weights and BN statistics) survives a .keras
    # round trip bit for bit on this backend.
    path = tmp_path / "trained.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.array_equal(
        keras.ops.convert_to_numpy(reloaded(x, training=False)), expected)


def test_every_family_reloads_bit_exactly_in_a_fresh_process(tmp_path):
    cases = [
        (_build(family, input_shape=(32, 32, 3), classes=4), _x(32))
        for family in sorted(FAMILIES)
    ]
    assert_models_reload_in_fresh_process(cases, tmp_path)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_mixed_precision_is_finite(family):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = _build(family, input_shape=(32, 32, 3), classes=4)
        x = _x(32) * 1000
        out = keras.ops.convert_to_numpy(model(x, training=True))
        assert out.dtype == np.float32  # the classifier stays in float32
        assert np.all(np.isfinite(out))
    finally:
        keras.config.set_dtype_policy("float32")
