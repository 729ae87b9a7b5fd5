import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: left out of the default suite (2 cores, 25 "
                   "minutes); run with -m slow")
    config.addinivalue_line(
        "markers", "tf_only: needs the TensorFlow backend"
    )


# Tests that take a minute or more on 2 cores (JAX compiling every family,
# subprocess pytest runs), started first: pytest-xdist hands out the first
# items round-robin and the rest on demand, so with the longest first the
# two workers finish together instead of one running a long test alone at
# the end (22 min against about 17 for the same tests).
_LONG_FIRST = (
    "tests/test_other_backends.py::test_passes_on_backend"
    "[tests/models/test_families_smoke.py",
    "tests/bench/test_study.py::test_study_end_to_end",
    "tests/bench/test_gpu.py::test_smoke_run",
    "tests/test_other_backends.py",
    "tests/test_docs_examples.py::test_markdown_python_blocks_run",
    "tests/tuning/test_jax.py",
)


def _start_rank(item):
    for rank, prefix in enumerate(_LONG_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(_LONG_FIRST)


def pytest_collection_modifyitems(config, items):
    # A stable sort: the order within each rank is pytest's.
    items.sort(key=_start_rank)
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason="needs the TensorFlow backend")
    for item in items:
        if "tf_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _reset_state():
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
    # free_memory=False skips a full garbage collection (0.3-0.5 s a test).
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def backend_name():
    return keras.backend.backend()

