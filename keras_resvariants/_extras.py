"""Optional extras: what a workflow needs beyond keras and numpy.

`pip install keras-resvariants` installs only keras and numpy (the backend
is the user's own). The workflows need more, installed through the extras of
`pyproject.toml`: `train`, `tune`, `serve` (and `all`). A workflow that
lacks its extra raises the `ImportError` built here, which names it:

    keras_resvariants.tuning needs keras-tuner: pip install
    'keras-resvariants[tune]'

A workflow package that cannot work at all without its extra is listed in
`PACKAGES` and its `__init__` calls `require_package` first, so importing
it raises the error (the `resvariants` command line turns that into a
one-line error of the subcommands it would have added). A function that
needs an optional package only on one path calls `require` there.
"""

import importlib.util
import sys

# Import name -> the distribution pip installs for it (for the message).
DISTRIBUTIONS = {
    "fastapi": "fastapi",
    "grpc": "grpcio",
    "keras_tuner": "keras-tuner",
    "matplotlib": "matplotlib",
    "sklearn": "scikit-learn",
    "tensorboard": "tensorboard",
    "tensorflow": "tensorflow",
    "tensorflow_datasets": "tensorflow-datasets",
    "tensorflow_serving": "tensorflow-serving-api",
    "uvicorn": "uvicorn",
}

# Workflow package -> (its extra, the modules its import needs).
PACKAGES = {
    "keras_resvariants.tuning": ("tune", ("keras_tuner",)),
    "keras_resvariants.serving": ("serve", ("tensorflow", "fastapi",
                                            "uvicorn")),
}


def missing(modules):
    """The top-level import names in `modules` that are not installed."""
    return [m for m in modules
            if m not in sys.modules and importlib.util.find_spec(m) is None]


def extra_error(extra, what, modules):
    """The `ImportError` saying that `what` needs `modules` and which extra
    installs them."""
    needed = ", ".join(DISTRIBUTIONS.get(m, m) for m in modules)
    return ImportError(
        f"{what} needs {needed}: pip install 'keras-resvariants[{extra}]'",
        name=modules[0] if modules else None,
    )


def require(extra, what, *modules):
    """Raises `extra_error` if any of `modules` is not installed.

    Args:
        extra: str. The extra that installs them (`"train"`, ...).
        what: str. What needs them, for the message (a module, a function,
            a dataset).
        *modules: top-level import names (`"tensorflow_datasets"`).

    Raises:
        ImportError: naming the missing distributions and the extra.
    """
    absent = missing(modules)
    if absent:
        raise extra_error(extra, what, absent)


def require_package(package):
    """Raises `extra_error` if `package` (a `PACKAGES` key) lacks a module."""
    extra, modules = PACKAGES[package]
    require(extra, package, *modules)
