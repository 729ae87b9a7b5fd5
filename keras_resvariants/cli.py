"""The `resvariants` command line: one subcommand per workflow module.

Each workflow module exposes `add_subcommand(subparsers)`, which adds its
parser and sets `func` (called with the parsed args; returns an exit code).
Modules are imported only when the command line is parsed, so `import
keras_resvariants` stays light.
"""

import argparse
import importlib
import sys

from keras_resvariants import _extras
from keras_resvariants._cli_args import USER_ERRORS
from keras_resvariants._cli_args import error_line
from keras_resvariants._cli_args import parse_key_value  # noqa: F401
from keras_resvariants._cli_args import parse_number  # noqa: F401
from keras_resvariants._cli_args import parse_value  # noqa: F401

# module path for each subcommand, in `resvariants --help` order
SUBCOMMANDS = (
    "keras_resvariants.training.cli",
    "keras_resvariants.bench.cli",
    "keras_resvariants.tuning.cli",
    "keras_resvariants.serving.cli",
    "keras_resvariants.bench.study",
)
# The subcommands of a module, for when its extra is not installed.
COMMANDS = {
    "keras_resvariants.training.cli": ("train",),
    "keras_resvariants.bench.cli": ("bench",),
    "keras_resvariants.tuning.cli": ("tune",),
    "keras_resvariants.serving.cli": ("export", "serve"),
    "keras_resvariants.bench.study": ("study",),
}


def _add_missing(subparsers, module, error):
    """Subcommands whose workflow lacks its extra: they take any arguments
    and fail with the extra-naming `ImportError` (one line, exit status
    2)."""

    def fail(args):
        raise error

    for command in COMMANDS[module]:
        p = subparsers.add_parser(
            command, help=f"(needs an extra: {error})", add_help=False)
        p.set_defaults(func=fail, needs_extra=True)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="resvariants",
        description="Train, benchmark, tune, export and serve the residual "
                    "network variants of keras-resvariants.",
    )
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of "
                             "one line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        try:
            workflow = importlib.import_module(module)
        except ImportError as error:
            if error.name not in _extras.DISTRIBUTIONS:
                raise  # a bug, not a missing extra
            _add_missing(subparsers, module, error)
        else:
            workflow.add_subcommand(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "needs_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as error:
        if args.debug:
            raise
        print(error_line(args.command, error), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
