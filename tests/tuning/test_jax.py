"""A tiny search on the JAX backend (fresh interpreter: the backend is
fixed at import)."""

import os

import keras
import pytest

from tests.training.subprocesses import run_script

FM = os.path.exists("/usr/share/datasets/fashion-mnist")

SCRIPT = """
import json, sys
import keras
import numpy as np
from keras_resvariants.tuning import search

assert keras.backend.backend() == "jax"
result = search(
    "rir", max_trials=2, epochs=1, train_subset=64, validation_split=32,
    fixed={"blocks_per_stage": 1, "layers_per_block": 2, "batch_size": 32},
    output_dir=sys.argv[1], seed=1,
)
x = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
before = np.asarray(result.best_model(x, training=False))
after = np.asarray(
    keras.saving.load_model(result.paths["best_model"])(x, training=False))
np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)
print(json.dumps([t.status for t in result.trials]))
"""


@pytest.mark.skipif(not FM, reason="dataset-fashion-mnist not installed")
@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="launched from the default-backend run only")
def test_search_runs_on_jax(tmp_path):
    pytest.importorskip("jax")
    proc = run_script(SCRIPT, tmp_path / "out", backend="jax", timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.strip().splitlines()[-1] == (
        '["COMPLETED", "COMPLETED"]')
