"""An exponential moving average of the weights, validated and kept in
place of the last step's (YOLOv8's `ModelEMA`)."""

from __future__ import annotations

import math

import keras
import numpy as np

from components.checks import invalid_value


class WeightAveraging(keras.callbacks.Callback):
    """Keeps an exponential moving average of every weight of the model, and
    puts it in place at each epoch's end, so that what the later callbacks
    see (validation, `best.keras`, backups) and what training ends with are
    the averaged weights.

    An average of the last few hundred steps' weights sits nearer the middle
    of the valley that noisy steps circle around (Polyak averaging); YOLOv8
    trains so. After step `t` the average moves toward the weights by
    `1 - d(t)`, with `d(t) = decay * (1 - exp(-t / warmup_steps))`: early
    weights, soon left behind, are forgotten fast. Batch norm's moving
    statistics are averaged too, as Ultralytics' `ModelEMA` does.

    Why not the Keras optimizers' `use_ema`: its momentum has no warm-up (the
    random initial weights would weigh on a short run's average for
    thousands of steps) and it averages the trainable weights only.

    At each epoch's start the training weights come back, so the optimizer
    goes on from its own; `fit`'s `val_loss` (computed before the callbacks
    see the epoch's end) is still the training weights'. With
    `steps_per_execution = k`, the average is updated every k steps by
    `d ** k` (the k steps' weights taken as the last one's).

    Ultralytics' `decay = 0.9999` and `warmup_steps = 2000` suit its runs of
    tens of thousands of steps; in a run of a few thousand the average would
    still lean on the first weights at the end (with 120 steps of overfitting,
    validation mAP read 0 on the average). With `total_steps` the two are
    sized to the run instead: `decay = 1 - 10 / total_steps` (an average over
    the last tenth of the run, at most 0.9999) and `warmup_steps =
    total_steps / 20`.

    Put it before the callbacks that should see the average.

    Args:
        decay: Float in (0, 1). The largest `d`.
        warmup_steps: Float > 0. Steps over which `d` rises to `decay`.
        total_steps: Optional positive number, or a callable returning the
            run's planned steps now (`TimeBudget` plans again each epoch);
            it replaces `decay` and `warmup_steps`.

    Example:

    >>> import numpy as np, keras
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> averaging = WeightAveraging(decay=0.5, warmup_steps=1e-9)
    >>> _ = model.fit(np.ones((4, 1)), np.ones((4, 1)), batch_size=1,
    ...               callbacks=[averaging], verbose=0)
    >>> averaging.updates
    4
    """

    def __init__(self, decay=0.9999, warmup_steps=2000.0, total_steps=None):
        super().__init__()
        if total_steps is not None and not callable(total_steps):
            if not isinstance(total_steps, (int, float)) or not total_steps > 0:
                raise ValueError(
                    invalid_value("total_steps", total_steps, "a number > 0")
                )
        self.total_steps = total_steps
        if not isinstance(decay, (int, float)) or not 0.0 < decay < 1.0:
            raise ValueError(invalid_value("decay", decay, "a float in (0, 1)"))
        if not isinstance(warmup_steps, (int, float)) or not warmup_steps > 0:
            raise ValueError(invalid_value("warmup_steps", warmup_steps, "a float > 0"))
        self.decay = float(decay)
        self.warmup_steps = float(warmup_steps)
        self.updates = 0
        self._average = None
        self._training = None  # the training weights while the average is in

    def momentum(self, step):
        """`d(step)`: the weight of the old average after `step` steps."""
        decay, warmup = self.decay, self.warmup_steps
        if self.total_steps is not None:
            total = self.total_steps
            total = float(total() if callable(total) else total)
            decay = min(0.9999, max(0.0, 1.0 - 10.0 / total))
            warmup = max(1.0, total / 20.0)
        return decay * (1.0 - math.exp(-step / warmup))

    def on_train_begin(self, logs=None):
        self._training = None
        self._average = [np.array(w, dtype="float64") for w in self.model.get_weights()]
        self.updates = int(self.model.optimizer.iterations)

    def on_epoch_begin(self, epoch, logs=None):
        if self._training is not None:
            self.model.set_weights(self._training)
            self._training = None

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations)
        count = step - self.updates
        if count <= 0:
            return
        kept = self.momentum(step) ** count
        for average, weight in zip(self._average, self.model.get_weights()):
            if np.issubdtype(weight.dtype, np.floating):
                average *= kept
                average += (1.0 - kept) * weight
            else:  # counters (a seed generator's state) follow the model
                average[...] = weight
        self.updates = step

    def on_epoch_end(self, epoch, logs=None):
        self._training = self.model.get_weights()
        self.swap_in()

    def swap_in(self):
        """Puts the averaged weights in the model."""
        dtypes = [w.dtype for w in self._training or self.model.get_weights()]
        self.model.set_weights(
            [a.astype(dtype) for a, dtype in zip(self._average, dtypes)]
        )

    def on_train_end(self, logs=None):
        # Training ends on the average (the epoch's end put it in place).
        self._training = None

    def averaged_weights(self):
        """The average, as `model.get_weights()` lists them."""
        return [np.array(a) for a in self._average]
