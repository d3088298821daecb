"""Argument checks shared by every package, in Keras's error-message shape.

One template, `invalid_value`, writes every message:

    Invalid value received for argument `rate`. Expected a float in [0, 1).
    Received: rate=1.5

This module imports nothing of the project, so `components.data`,
`components.detection` and the others depend on it and not on each other.
"""

from __future__ import annotations


def invalid_value(name, value, expected):
    """The message for argument `name` given `value` where `expected` was due.

    Example:

    >>> invalid_value("rate", 1.5, "a float in [0, 1)")
    'Invalid value received for argument `rate`. Expected a float in [0, 1). Received: rate=1.5'
    """
    return (
        f"Invalid value received for argument `{name}`. Expected {expected}. "
        f"Received: {name}={value!r}"
    )


def check_positive_int(name, value, minimum=1):
    """Returns `value`, an integer (not a bool) >= `minimum`, or raises."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(invalid_value(name, value, f"an integer >= {minimum}"))
    return value


def check_rate(name, value):
    """Returns `value` as a float in [0, 1), or raises."""
    if not _is_number(value) or not 0.0 <= value < 1.0:
        raise ValueError(invalid_value(name, value, "a float in [0, 1)"))
    return float(value)


def check_non_negative(name, value):
    """Returns `value` as a float >= 0, or raises."""
    if not _is_number(value) or value < 0:
        raise ValueError(invalid_value(name, value, "a float >= 0"))
    return float(value)


def check_one_of(name, value, choices):
    """Returns `value` if it is one of `choices`, or raises listing them."""
    if value not in choices:
        raise ValueError(invalid_value(name, value, f"one of {', '.join(choices)}"))
    return value


def check_seed(name, value):
    """Returns `value`, `None` or an integer >= 0 (a random seed), or raises."""
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or value < 0
    ):
        raise ValueError(invalid_value(name, value, "None or an integer >= 0"))
    return value


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_fits(input_shape, steps, model):
    """Raises unless the input survives every `(kernel, stride, padding)` step.

    Sizes follow Keras: `"valid"` gives `floor((W - K) / S) + 1` and needs
    `W >= K`; `"same"` gives `ceil(W / S)`. The message names the smallest
    input that fits, instead of TensorFlow's "negative dimension size" from
    deep inside a layer.
    """

    def final(size):
        for kernel, stride, padding in steps:
            if padding == "valid":
                if size < kernel:
                    return 0
                size = (size - kernel) // stride + 1
            else:
                size = -(-size // stride)
        return size

    smallest = 1
    while final(smallest) < 1:
        smallest += 1
    height, width = input_shape[0], input_shape[1]
    if min(height, width) < smallest:
        raise ValueError(
            f"Invalid value received for argument `input_shape`. Model {model!r} "
            f"needs inputs of at least {smallest}x{smallest}. Received: "
            f"input_shape={tuple(input_shape)}"
        )
