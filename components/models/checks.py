"""Argument checks shared by the model builders, in Keras's error-message shape."""

from __future__ import annotations


def check_positive_int(name, value, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected an integer "
            f">= {minimum}. Received: {name}={value!r}"
        )
    return value


def check_rate(name, value):
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a float in "
            f"[0, 1). Received: {name}={value!r}"
        )
    return float(value)


def check_non_negative(name, value):
    if not isinstance(value, (int, float)) or value < 0:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a float >= 0. "
            f"Received: {name}={value!r}"
        )
    return float(value)


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
