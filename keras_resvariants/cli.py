"""The `resvariants` command line: one subcommand per workflow module.

Each workflow module exposes `add_subcommand(subparsers)`, which adds its
parser and sets `func` (called with the parsed args; returns an exit code).
Modules are imported only when the command line is parsed, so `import
keras_resvariants` stays light.
"""

import argparse
import importlib
import json
import sys

# module path for each subcommand, in `resvariants --help` order
SUBCOMMANDS = (
    "keras_resvariants.training.cli",
    "keras_resvariants.bench.cli",
    "keras_resvariants.tuning.cli",
    "keras_resvariants.serving.cli",
    "keras_resvariants.bench.study",
)


def parse_value(text):
    """A command-line value: JSON (`0.2`, `true`, `"b"`) or the raw text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_key_value(text):
    """`NAME=VALUE` -> `(name, parse_value(value))` (argparse type)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE, got {text!r}"
        )
    key, value = text.split("=", 1)
    return key.strip(), parse_value(value.strip())


def parse_number(text):
    """`0.1` -> float (fraction), `5000` -> int (count) (argparse type)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


# What a user's input can cause: one line and exit status 2, as argparse
# does for a bad option (`--debug` shows the traceback instead).
USER_ERRORS = (ValueError, FileNotFoundError, NotImplementedError)


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
        importlib.import_module(module).add_subcommand(subparsers)
    return parser


def error_line(command, error):
    """`resvariants CMD: error: MESSAGE` on one line."""
    message = " ".join(str(error).split()) or type(error).__name__
    return f"resvariants {command}: error: {message}"


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as error:
        if args.debug:
            raise
        print(error_line(args.command, error), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
