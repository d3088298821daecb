"""The notes' six update rules by name, as Keras optimizers."""

from __future__ import annotations

import keras

from components.checks import invalid_value

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def build_optimizer(
    name, learning_rate, momentum=0.9, clipnorm=None, global_clipnorm=None
):
    """Returns the Keras optimizer for one of the notes' update rules.

    CS231n, Neural Networks III: `"sgd"`, `"momentum"` (SGD with momentum),
    `"nesterov"`, `"adagrad"`, `"rmsprop"` and `"adam"`. How each Keras rule
    relates to the notes' numpy formula (Nesterov's re-parametrization,
    epsilon inside the root, Adam's bias correction) is shown in
    `tests/components/test_optimizers.py` and the README. `clipnorm` clips
    each gradient's norm, `global_clipnorm` the norm of all of them together:
    the notes' "gradient normalization".

    Args:
        name: String. One of `OPTIMIZERS`.
        learning_rate: Float or a `keras.optimizers.schedules` schedule.
        momentum: Float in [0, 1). For `"momentum"` and `"nesterov"`.
        clipnorm: Float > 0 or `None`.
        global_clipnorm: Float > 0 or `None`.

    Returns:
        A `keras.optimizers.Optimizer`.

    Example:

    >>> opt = build_optimizer("nesterov", 0.01, momentum=0.95)
    >>> type(opt).__name__, opt.nesterov, opt.momentum
    ('SGD', True, 0.95)
    """
    if name not in OPTIMIZERS:
        raise ValueError(
            invalid_value("optimizer", name, f"one of {', '.join(OPTIMIZERS)}")
        )
    if not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ValueError(invalid_value("momentum", momentum, "a float in [0, 1)"))
    for arg, value in (("clipnorm", clipnorm), ("global_clipnorm", global_clipnorm)):
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            raise ValueError(invalid_value(arg, value, "a float > 0 or None"))
    if clipnorm is not None and global_clipnorm is not None:
        raise ValueError("Pass at most one of `clipnorm` and `global_clipnorm`.")
    common = {
        "learning_rate": learning_rate,
        "clipnorm": clipnorm,
        "global_clipnorm": global_clipnorm,
    }
    if name == "sgd":
        return keras.optimizers.SGD(**common)
    if name in ("momentum", "nesterov"):
        return keras.optimizers.SGD(
            momentum=momentum, nesterov=name == "nesterov", **common
        )
    return {
        "adagrad": keras.optimizers.Adagrad,
        "rmsprop": keras.optimizers.RMSprop,
        "adam": keras.optimizers.Adam,
    }[name](**common)
