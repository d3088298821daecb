"""Stop training at the first non-finite loss, and say where it happened."""

from __future__ import annotations

import math

import keras


class DivergenceStop(keras.callbacks.TerminateOnNaN):
    """Keras's `TerminateOnNaN`, remembering where and after what it stopped.

    Checks the loss after every batch (every `steps_per_execution` batches,
    as Keras reports them) and stops training at the first NaN or infinite
    value, as `TerminateOnNaN` does. It also keeps the epoch, the step and
    the last finite loss, so the caller can say what happened
    (`message()`) instead of leaving NaN weights and an unreadable history.

    Attributes:
        diverged: Boolean. Whether training stopped on a non-finite loss.
        epoch: Integer. The epoch (from 0) in which it did.
        step: Integer. The last step (from 0) of that epoch reported.
        loss: Float. The non-finite loss.
        last_finite_loss: Float or `None`. The loss reported before it.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(1e10), "mse")
    >>> x = np.linspace(-100, 100, 64).reshape(-1, 1)
    >>> stop = DivergenceStop()
    >>> _ = model.fit(x, 3 * x, batch_size=8, epochs=5, verbose=0, callbacks=[stop])
    >>> stop.diverged, stop.epoch
    (True, 0)
    """

    def __init__(self):
        super().__init__()
        self.diverged = False
        self.epoch = self.step = 0
        self.loss = self.last_finite_loss = None

    def on_train_begin(self, logs=None):
        self.diverged = False
        self.last_finite_loss = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = int(epoch)

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or self.diverged:
            return
        loss = float(loss)
        if math.isfinite(loss):
            self.last_finite_loss = loss
            return
        self.diverged, self.step, self.loss = True, int(batch), loss
        self.model.stop_training = True

    def message(self):
        """One line: where training diverged and what to try."""
        last = (
            f"{self.last_finite_loss:.4g}"
            if self.last_finite_loss is not None
            else "none"
        )
        return (
            f"Training diverged: loss {self.loss} at epoch {self.epoch + 1}, step "
            f"{self.step + 1} (last finite loss: {last}). Lower --learning-rate, "
            "clip gradients (--clipnorm or --global-clipnorm), or check the inputs' "
            "scale."
        )
