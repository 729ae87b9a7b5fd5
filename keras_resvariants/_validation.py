"""Argument checks shared by layers, specs and builders.

Every check raises `ValueError` naming the argument, the value received and
what is accepted, in the keras-hub "Received: ..." style.
"""

import numbers

import keras


def check_int(name, value, *, minimum=None, maximum=None):
    """Returns `value` as `int` if it is an integer in `[minimum, maximum]`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"`{name}` must be an integer{_range_text(minimum, maximum)}. "
            f"Received: {name}={value!r}"
        )
    value = int(value)
    if (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        raise ValueError(
            f"`{name}` must be an integer{_range_text(minimum, maximum)}. "
            f"Received: {name}={value!r}"
        )
    return value


def check_positive_int(name, value):
    """Returns `value` as `int` if it is an integer >= 1."""
    return check_int(name, value, minimum=1)


def check_float(name, value, *, low, high, high_inclusive=True):
    """Returns `value` as `float` if it lies in `[low, high]` (or
    `[low, high)` with `high_inclusive=False`)."""
    closing = "]" if high_inclusive else ")"
    accepted = f"a number in [{low}, {high}{closing}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"`{name}` must be {accepted}. Received: {name}={value!r}"
        )
    value = float(value)
    too_high = value > high if high_inclusive else value >= high
    if not value >= low or too_high:  # `not >=` also rejects NaN
        raise ValueError(
            f"`{name}` must be {accepted}. Received: {name}={value!r}"
        )
    return value


def check_unit_interval(name, value):
    """Returns `value` as `float` if it lies in `[0, 1]`."""
    return check_float(name, value, low=0.0, high=1.0)


def check_positive_float(name, value):
    """Returns `value` as `float` if it is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 < float(value) < float("inf")  # also rejects NaN
    ):
        raise ValueError(
            f"`{name}` must be a finite number > 0. Received: {name}={value!r}"
        )
    return float(value)


def check_choice(name, value, choices):
    """Returns `value` if it is one of `choices`."""
    if value not in choices:
        accepted = ", ".join(repr(c) for c in choices)
        raise ValueError(
            f"`{name}` must be one of {accepted}. Received: {name}={value!r}"
        )
    return value


def check_bool(name, value):
    """Returns `value` if it is a Python `bool` (not an int or a string)."""
    if not isinstance(value, bool):
        raise ValueError(
            f"`{name}` must be True or False. Received: {name}={value!r}"
        )
    return value


def check_per_stage(name, value, stages):
    """Returns a tuple of `stages` positive ints from an int or a sequence."""
    if isinstance(value, (tuple, list)):
        if len(value) != stages:
            raise ValueError(
                f"`{name}` must be an int or {stages} ints, one per stage. "
                f"Received: {name}={value!r}"
            )
        return tuple(check_positive_int(name, n) for n in value)
    return (check_positive_int(name, value),) * stages


def check_kernel_size(name, value):
    """Returns an odd square kernel size as `int` (an int or a pair)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(
                f"`{name}` must be an odd integer or a pair of equal odd "
                f"integers. Received: {name}={value!r}"
            )
        value = value[0]
    value = check_positive_int(name, value)
    if value % 2 == 0:
        raise ValueError(
            f"`{name}` must be an odd integer or a pair of equal odd "
            f"integers. Received: {name}={value!r}"
        )
    return value


def check_initializer(name, value, *, allow_none=False):
    """Returns `value` as a `keras.initializers.Initializer`: a name, a
    config dict or an instance (`None` as itself with `allow_none`).

    Plain callables are refused: they would not survive `get_config` /
    `from_config`.
    """
    if allow_none and value is None:
        return None
    accepted = ("None or a Keras initializer" if allow_none
                else "a Keras initializer")
    message = (f"`{name}` must be {accepted} name, config dict or "
               f"instance. Received: {name}={value!r}")
    try:
        initializer = keras.initializers.get(value)
    except (ValueError, TypeError) as error:
        raise ValueError(message) from error
    if not isinstance(initializer, keras.initializers.Initializer):
        raise ValueError(message)
    return initializer


def _range_text(minimum, maximum):
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""
