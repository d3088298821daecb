"""Base class for layers whose state comes from `adapt(data)`, not from training."""

from __future__ import annotations

import keras
import numpy as np


def collect_array(data, max_batches=None):
    """Gathers `data` into one float64 NumPy array.

    `data` may be an array, a tensor, or an iterable of batches (such as a
    batched `tf.data.Dataset`) whose elements are arrays or `(x, y)` pairs.
    """
    if hasattr(data, "shape") and not hasattr(data, "as_numpy_iterator"):
        return np.asarray(data, dtype="float64")
    iterator = data.as_numpy_iterator() if hasattr(data, "as_numpy_iterator") else data
    batches = []
    for index, batch in enumerate(iterator):
        if max_batches is not None and index >= max_batches:
            break
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        batches.append(np.asarray(batch, dtype="float64"))
    if not batches:
        raise ValueError("Cannot adapt on empty data: it yielded no batches.")
    return np.concatenate(batches)


class AdaptedLayer(keras.layers.Layer):
    """A layer with non-trainable state set by `adapt(data)` on training data.

    Calling it before `adapt` is an error (it would silently apply whatever
    the variables were initialized to). A layer loaded from a `.keras` file is
    adapted: its variables come from the file.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.adapted = False

    def check_adapted(self):
        if not self.adapted:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} has not been adapted: "
                "call `layer.adapt(training_data)` before using it."
            )

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self.adapted = True
