"""Training for a time instead of a number of epochs (Ultralytics' `time=`)."""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from components.checks import check_positive_int, invalid_value


class TimeBudget(keras.callbacks.Callback):
    """Plans the epochs that fit in `seconds`, schedules the learning rate
    over them, and stops training after the last.

    After every epoch the plan is made again: the epochs done, plus as many
    as the time left holds at the typical epoch's duration (the median of
    the epochs after the first, whose duration includes tracing and
    compiling). The learning rate follows a linear warm-up over
    `warmup_epochs`, then a cosine from `learning_rate` down to
    `final_fraction` of it, over the planned steps; when the plan changes,
    the cosine stretches or shrinks from the step reached (as Ultralytics'
    trainer resets its scheduler). Training stops at the end of the epoch
    after which no other fits.

    Put it after the callbacks whose time the epoch should count (a
    validation at each epoch's end), so the plan includes it.

    Args:
        seconds: Float > 0. The training time, validation included.
        learning_rate: Float > 0. The peak learning rate.
        steps_per_epoch: Positive integer.
        max_epochs: Positive integer. The plan's ceiling (and first guess).
        warmup_epochs: Float >= 0. Epochs of linear rise from 0.
        final_fraction: Float in [0, 1]. The last step's rate, as a fraction
            of `learning_rate`.

    Example:

    >>> budget = TimeBudget(60, 0.01, steps_per_epoch=10, max_epochs=4)
    >>> [round(budget.rate(step), 4) for step in (0, 20, 40)]
    [0.01, 0.005, 0.0001]
    """

    def __init__(
        self,
        seconds,
        learning_rate,
        steps_per_epoch,
        max_epochs,
        warmup_epochs=0.0,
        final_fraction=0.01,
    ):
        super().__init__()
        if not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ValueError(invalid_value("seconds", seconds, "a float > 0"))
        if not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
            raise ValueError(
                invalid_value("learning_rate", learning_rate, "a float > 0")
            )
        if not isinstance(warmup_epochs, (int, float)) or not warmup_epochs >= 0:
            raise ValueError(
                invalid_value("warmup_epochs", warmup_epochs, "a float >= 0")
            )
        if not isinstance(final_fraction, (int, float)) or not (
            0.0 <= final_fraction <= 1.0
        ):
            raise ValueError(
                invalid_value("final_fraction", final_fraction, "a float in [0, 1]")
            )
        self.seconds = float(seconds)
        self.learning_rate = float(learning_rate)
        self.steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch)
        self.max_epochs = check_positive_int("max_epochs", max_epochs)
        self.warmup_steps = warmup_epochs * self.steps_per_epoch
        self.final_fraction = float(final_fraction)
        self.planned_epochs = self.max_epochs
        self.durations = []
        self.elapsed = 0.0
        self._start = self._epoch_start = None

    def rate(self, step):
        """The learning rate at `step` under the current plan."""
        total = max(1.0, self.planned_epochs * self.steps_per_epoch)
        if step < self.warmup_steps:
            return self.learning_rate * step / self.warmup_steps
        span = max(1.0, total - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        low = self.final_fraction
        return self.learning_rate * (low + (1.0 - low) * cosine)

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter() - self.elapsed
        self._set_rate()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._set_rate()

    def _set_rate(self):
        step = int(self.model.optimizer.iterations)
        self.model.optimizer.learning_rate = self.rate(step)

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.durations.append(now - self._epoch_start)
        self.elapsed = now - self._start
        typical = float(np.median(self.durations[1:] or self.durations))
        fits = int((self.seconds - self.elapsed) // typical)
        self.planned_epochs = max(epoch + 1, min(self.max_epochs, epoch + 1 + fits))
        if logs is not None:
            logs["planned_epochs"] = self.planned_epochs
        if epoch + 1 >= self.planned_epochs:
            self.model.stop_training = True
