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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="resvariants",
        description="Train, benchmark, tune, export and serve the residual "
                    "network variants of keras-resvariants.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        importlib.import_module(module).add_subcommand(subparsers)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
