"""The notes' learning-rate check: the update / weight norm ratio, per layer."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from components.callbacks.model_state import layer_weights, sync_weights
from components.checks import invalid_value


class UpdateRatioMonitor(keras.callbacks.Callback):
    """Logs the ratio of the update norm to the weight norm of every layer.

    The notes: "LR -> ratio between the update norm and the weight norm ~
    1e-3". Once per epoch, the weights of every layer are read before and
    after one optimizer step (the first executed batch of the epoch), and
    `||delta W|| / ||W||` is computed per layer over its trainable weights.
    The epoch's logs get `update_ratio_median`, `update_ratio_min` and
    `update_ratio_max` over layers (so History, CSVLogger and TensorBoard
    record them when they come after this callback in the list);
    `per_layer` keeps every epoch's per-layer ratios. When the median stays
    above `high` (1e-2: the learning rate is likely too high) or below `low`
    (1e-4: likely too low) for `patience` epochs within the first
    `advise_epochs`, it warns once per `fit`. Later epochs are logged but not
    judged: the heuristic is for the initial learning rate, and annealing
    lowers the ratio on purpose.

    With `steps_per_execution = k`, one executed batch holds k optimizer
    steps: the ratio is then the norm of their summed update divided by k
    (equal to the per-step ratio when successive updates point the same
    way, smaller when they cancel).

    Cost: two reads of the weights per epoch. The batch-begin hook returns at
    once on other batches, and no batch-end hook is defined, so Keras keeps
    dispatching batch callbacks asynchronously.

    Args:
        low: Float > 0. Ratio under which the rate is likely too low.
        high: Float > low. Ratio over which the rate is likely too high.
        patience: Integer >= 1. Epochs out of range before the warning.
        advise_epochs: Integer >= 1. Only the first epochs are judged.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> model.compile(keras.optimizers.SGD(1e-3), "mse")
    >>> monitor = UpdateRatioMonitor()
    >>> history = model.fit(np.ones((32, 4)), np.zeros((32, 2)), epochs=2,
    ...                     batch_size=8, callbacks=[monitor], verbose=0)
    >>> sorted(monitor.per_layer[-1]) == [model.layers[0].name]
    True
    """

    def __init__(self, low=1e-4, high=1e-2, patience=2, advise_epochs=5):
        super().__init__()
        if (
            not isinstance(low, (int, float))
            or not isinstance(high, (int, float))
            or not 0 < low < high
        ):
            raise ValueError(
                "Invalid values received for arguments `low` and `high`. Expected "
                f"0 < low < high. Received: low={low!r}, high={high!r}"
            )
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(invalid_value("patience", patience, "an integer >= 1"))
        if not isinstance(advise_epochs, int) or advise_epochs < 1:
            raise ValueError(
                invalid_value("advise_epochs", advise_epochs, "an integer >= 1")
            )
        self.low, self.high, self.patience = low, high, patience
        self.advise_epochs = advise_epochs

    def on_train_begin(self, logs=None):
        self.per_layer = []
        self._strikes = {"high": 0, "low": 0}
        self._warned = False

    def on_epoch_begin(self, epoch, logs=None):
        self._before = None
        self._first_batch = None
        self._ratios = None

    def on_train_batch_begin(self, batch, logs=None):
        if self._ratios is not None:
            return
        if self._before is None:
            sync_weights(self.model)
            self._before, self._first_batch = layer_weights(self.model), batch
            return
        sync_weights(self.model)
        after = layer_weights(self.model)
        steps = max(1, batch - self._first_batch)
        ratios = {}
        for name, old in self._before.items():
            delta = np.sqrt(sum(np.sum((n - o) ** 2) for n, o in zip(after[name], old)))
            norm = np.sqrt(sum(np.sum(o**2) for o in old))
            if norm > 0:
                ratios[name] = float(delta / norm / steps)
        self._ratios = ratios
        self._before = None

    def on_epoch_end(self, epoch, logs=None):
        if not self._ratios:
            return  # a one-batch epoch measured nothing
        self.per_layer.append(self._ratios)
        values = np.array(list(self._ratios.values()))
        median = float(np.median(values))
        if logs is not None:
            logs["update_ratio_median"] = median
            logs["update_ratio_min"] = float(values.min())
            logs["update_ratio_max"] = float(values.max())
        if epoch < self.advise_epochs:
            self._advise(median)

    def _advise(self, median):
        self._strikes["high"] = self._strikes["high"] + 1 if median > self.high else 0
        self._strikes["low"] = self._strikes["low"] + 1 if median < self.low else 0
        if self._warned:
            return
        if self._strikes["high"] >= self.patience:
            advice = "the learning rate is likely too high: lower it (try 3-10x)"
        elif self._strikes["low"] >= self.patience:
            advice = "the learning rate is likely too low: raise it (try 3-10x)"
        else:
            return
        self._warned = True
        warnings.warn(
            f"UpdateRatioMonitor: the median update/weight norm ratio has been "
            f"{median:.1e} for {self.patience} epochs, far from the notes' ~1e-3; "
            f"{advice}.",
            stacklevel=2,
        )
