"""Runs the layer tests and a per-family model check under JAX and torch.

TensorFlow is the default backend; every layer and builder must also run on
JAX (the GPU machines have JAX and no TensorFlow) and on PyTorch, as
keras.applications do. The backend is fixed at import, so this runs pytest
in a fresh interpreter with `KERAS_BACKEND=jax` or `torch` (skipped when
that backend is not installed; `.ci/run` installs both, torch as the CPU
build).
"""

import os
import subprocess
import sys

import keras
import pytest

from tests.testing import REPO_ROOT

# One subprocess per test file (the family smoke tests in two parts), so
# that pytest-xdist spreads them over the workers instead of running one
# long serial job at the end of the suite.
_SMOKE = "tests/models/test_families_smoke.py"
# channels_first: the layers (tests/layers/test_channels_first.py, above)
# and one network against its channels_last twin (Keras' own layers in
# NCHW around BridgeSE; every family's on TensorFlow, whose oneDNN CPU
# kernels run NCHW). A network costs JAX seconds of compilation per op
# shape, so one small one.
_CHANNELS_FIRST = "tests/models/test_channels_first_applications.py"
BACKEND_TEST_FILES = sorted(
    f"tests/layers/{name}"
    for name in os.listdir(os.path.join(REPO_ROOT, "tests", "layers"))
    if name.startswith("test_") and name.endswith(".py")
) + [f"{_SMOKE}::test_fit_step_gradients_and_reload",
     # Mixed precision on JAX and torch: 2 minutes, mostly JAX compiling
     # every family once more; run with `-m slow`.
     pytest.param(f"{_SMOKE}::test_mixed_precision_is_finite",
                  marks=pytest.mark.slow),
     f"{_CHANNELS_FIRST}::test_notop_one_channel_any_size[res_se]"]


BACKENDS = ("jax", "torch")
# The module each backend needs.
_BACKEND_MODULES = {"jax": "jax", "torch": "torch"}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="launched from the default-backend run only")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", BACKEND_TEST_FILES)
def test_passes_on_backend(backend, path):
    pytest.importorskip(_BACKEND_MODULES[backend])
    env = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist", path],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500,
    )
    tail = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and " failed" not in result.stdout, tail
