"""Runs the layer tests and a per-family model check under JAX.

TensorFlow is the default backend; every layer and builder must also run on
JAX (the GPU machines have JAX and no TensorFlow). The backend is fixed at
import, so this runs pytest in a fresh interpreter with KERAS_BACKEND=jax.
"""

import os
import subprocess
import sys

import keras
import pytest

from tests.testing import REPO_ROOT

# One subprocess per test file (the family smoke tests in three parts), so
# that pytest-xdist spreads them over the workers instead of running one
# long serial job at the end of the suite.
_SMOKE = "tests/models/test_families_smoke.py"
# channels_first: the layers (tests/layers/test_channels_first.py, above)
# and one network against its channels_last twin (SeqConv's slicing,
# windows and grouped convs; every family's on TensorFlow, whose oneDNN
# CPU kernels run NCHW). A network costs JAX seconds of compilation per
# op shape, so one test.
_CHANNELS_FIRST = "tests/models/test_channels_first_applications.py"
JAX_TEST_FILES = sorted(
    f"tests/layers/{name}"
    for name in os.listdir(os.path.join(REPO_ROOT, "tests", "layers"))
    if name.startswith("test_") and name.endswith(".py")
) + [f"{_SMOKE}::test_fit_step_and_gradients",
     f"{_SMOKE}::test_every_family_reloads_bit_exactly_in_a_fresh_process",
     f"{_SMOKE}::test_mixed_precision_is_finite",
     f"{_CHANNELS_FIRST}::test_notop_one_channel_any_size[seqconv]"]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="launched from the default-backend run only")
@pytest.mark.parametrize("path", JAX_TEST_FILES)
def test_passes_on_jax(path):
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "no:xdist", path],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500,
    )
    tail = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and " failed" not in result.stdout, tail
