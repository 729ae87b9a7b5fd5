"""Deprecated location of the publishing workflow: use
`keras_resvariants.publishing` (`python -m keras_resvariants.publishing`).
Publishing is a workflow above the core, so it no longer lives in the
core's `weights` package; this alias keeps the old command working."""

import sys
import warnings

from keras_resvariants.publishing import *  # noqa: F401,F403
from keras_resvariants.publishing import main

warnings.warn(
    "keras_resvariants.weights.publish is deprecated; use "
    "keras_resvariants.publishing.",
    DeprecationWarning,
    stacklevel=2,
)

if __name__ == "__main__":
    sys.exit(main())
