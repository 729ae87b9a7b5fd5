"""Argument types and argument groups shared by the `resvariants`
subcommands (the workflows' command lines import them from here, below
the `resvariants` dispatcher in `keras_resvariants.cli`)."""

import argparse
import json

from keras_resvariants.datasets import DATASETS


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


# What a user's input or a missing extra can cause: one line and exit
# status 2, as argparse does for a bad option (`--debug` shows the
# traceback instead).
USER_ERRORS = (ValueError, FileNotFoundError, NotImplementedError,
               ImportError)


def error_line(command, error):
    """`resvariants CMD: error: MESSAGE` on one line."""
    message = " ".join(str(error).split()) or type(error).__name__
    return f"resvariants {command}: error: {message}"


def add_data_arguments(p):
    """`--dataset`, `--data-dir`, `--download`, `--train-subset`: the
    dataset of a training or a search."""
    p.add_argument("--dataset", default="fashion_mnist",
                   choices=tuple(DATASETS),
                   help="default: fashion_mnist (local IDX files)")
    p.add_argument("--data-dir", help="dataset directory (tfds data_dir, "
                                      "or the Fashion-MNIST IDX files)")
    p.add_argument("--download", action="store_true",
                   help="let tensorflow-datasets download")
    p.add_argument("--train-subset", type=int,
                   help="train on the first N training images")


def add_distribution_arguments(p):
    """`--distribution`, `--logical-cpus`: how the work is spread over
    devices."""
    p.add_argument("--distribution", default="auto",
                   choices=("auto", "none", "mirrored", "data_parallel"))
    p.add_argument("--logical-cpus", type=int,
                   help="split the CPU into N devices (testing)")

