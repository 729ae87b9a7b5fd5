"""Argument types and argument groups shared by the `resvariants`
subcommands (the workflows' command lines import them from here, below
the `resvariants` dispatcher in `keras_resvariants.cli`)."""

import argparse
import json


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
