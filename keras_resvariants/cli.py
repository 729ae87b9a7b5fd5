"""The `resvariants` command line: one subcommand per workflow module.

Each workflow module exposes `add_subcommand(subparsers)`, which adds its
parser and sets `func` (called with the parsed args; returns an exit code).
Modules are imported only when the command line is parsed, so `import
keras_resvariants` stays light.
"""

import argparse
import importlib
import sys

# module path for each subcommand, in `resvariants --help` order
SUBCOMMANDS = (
    "keras_resvariants.training.cli",
    "keras_resvariants.bench.cli",
    "keras_resvariants.tuning.cli",
    "keras_resvariants.serving.cli",
)


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
