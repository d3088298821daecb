"""The notes' three learning-rate annealing schedules, applied per epoch."""

from __future__ import annotations

import math

import keras

from components.checks import invalid_value

KINDS = ("step", "exponential", "inverse_time")


def annealing_schedule(kind, initial_learning_rate, drop=0.5, every=10, k=0.1):
    """A Keras schedule for one of the notes' annealing rules, stepped per epoch.

    - `"step"`: multiply by `drop` every `every` epochs
      (`ExponentialDecay(staircase=True)`).
    - `"exponential"`: `lr0 * exp(-k * epoch)` (`ExponentialDecay` with rate
      `exp(-k)`).
    - `"inverse_time"`: `lr0 / (1 + k * epoch)` (`InverseTimeDecay`).

    Example:

    >>> schedule = annealing_schedule("step", 0.1, drop=0.5, every=2)
    >>> [round(float(schedule(e)), 3) for e in range(5)]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """
    if kind not in KINDS:
        raise ValueError(invalid_value("kind", kind, f"one of {', '.join(KINDS)}"))
    for name, value in (("initial_learning_rate", initial_learning_rate), ("k", k)):
        if not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(invalid_value(name, value, "a float > 0"))
    if not isinstance(drop, (int, float)) or not 0 < drop <= 1:
        raise ValueError(invalid_value("drop", drop, "a float in (0, 1]"))
    if not isinstance(every, int) or every < 1:
        raise ValueError(invalid_value("every", every, "an integer >= 1"))
    schedules = keras.optimizers.schedules
    if kind == "step":
        return schedules.ExponentialDecay(
            initial_learning_rate, every, drop, staircase=True
        )
    if kind == "exponential":
        return schedules.ExponentialDecay(initial_learning_rate, 1, math.exp(-k))
    return schedules.InverseTimeDecay(initial_learning_rate, 1, k)


class LearningRateAnnealing(keras.callbacks.LearningRateScheduler):
    """Anneals the learning rate per epoch: step, exponential or 1/t decay.

    The notes (Neural Networks III, "Annealing the learning rate: Step /
    Exponential / (1/t) decay"). The rates come from Keras's own schedules
    (see `annealing_schedule`), evaluated at the epoch number, and are set
    through Keras's `LearningRateScheduler`, which logs `learning_rate` every
    epoch (so it reaches the history, CSV logs and TensorBoard).

    Args:
        kind: `"step"`, `"exponential"` or `"inverse_time"`.
        initial_learning_rate: Float > 0.
        drop: Float in (0, 1]. Factor of each step (`"step"`).
        every: Integer >= 1. Epochs between steps (`"step"`).
        k: Float > 0. Decay constant (`"exponential"`, `"inverse_time"`).
        verbose: Integer. 1 prints every change.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> annealing = LearningRateAnnealing("inverse_time", 0.1, k=1.0)
    >>> history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=3,
    ...                     callbacks=[annealing], verbose=0)
    >>> [round(float(r), 4) for r in history.history["learning_rate"]]
    [0.1, 0.05, 0.0333]
    """

    def __init__(
        self, kind, initial_learning_rate, drop=0.5, every=10, k=0.1, verbose=0
    ):
        self.annealing = annealing_schedule(kind, initial_learning_rate, drop, every, k)
        super().__init__(
            lambda epoch, lr: float(self.annealing(epoch)), verbose=verbose
        )
        self.kind = kind
