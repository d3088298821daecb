"""Max-norm regularization for an existing model, applied inside the compiled step."""

from __future__ import annotations

import keras

from components.callbacks.model_state import leaf_layers
from components.checks import invalid_value


def _incoming_axes(layer):
    """Axes of a kernel that hold one neuron's incoming weights."""
    rank = len(layer.kernel.shape)
    return 0 if rank == 2 else list(range(rank - 1))


class MaxNormConstraint(keras.callbacks.Callback):
    """Clamps every neuron's incoming weight vector to norm <= `max_value`.

    The notes: "Max Norm Constraint: perform the parameter update as normal,
    and then enforce the constraint by clamping the weight vector of every
    neuron to satisfy ||w||_2 < c". For a model built without constraints,
    this callback attaches Keras's own `keras.constraints.MaxNorm` to the
    kernel of every `Dense` and convolution layer at the start of `fit` (the
    incoming vector of a dense unit is a kernel column; of a convolution
    filter, its whole `(kh, kw, in)` block), so the optimizer applies it
    right after each update inside the compiled step: no Python loop per
    batch. The previous constraints come back at the end of `fit`.

    Args:
        max_value: Float > 0. The bound c.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile(keras.optimizers.SGD(1.0), "mse")
    >>> _ = model.fit(np.ones((8, 3)), 50 * np.ones((8, 2)), epochs=3, verbose=0,
    ...               callbacks=[MaxNormConstraint(0.5)])
    >>> bool((np.linalg.norm(model.layers[0].kernel.numpy(), axis=0) <= 0.5 + 1e-6).all())
    True
    """

    def __init__(self, max_value):
        super().__init__()
        if (
            not isinstance(max_value, (int, float))
            or isinstance(max_value, bool)
            or max_value <= 0
        ):
            raise ValueError(invalid_value("max_value", max_value, "a float > 0"))
        self.max_value = float(max_value)

    def _kernels(self):
        for layer in leaf_layers(self.model):
            if getattr(layer, "kernel", None) is not None and layer.kernel.trainable:
                if isinstance(
                    layer,
                    keras.layers.Dense
                    | keras.layers.Conv1D
                    | keras.layers.Conv2D
                    | keras.layers.Conv3D,
                ):
                    yield layer

    def on_train_begin(self, logs=None):
        self._previous = {}
        for layer in self._kernels():
            self._previous[layer.name] = layer.kernel.constraint
            layer.kernel.constraint = keras.constraints.MaxNorm(
                self.max_value, axis=_incoming_axes(layer)
            )
        # The train step reads constraints when it is traced: trace it anew.
        self.model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        for layer in self._kernels():
            layer.kernel.constraint = self._previous.get(layer.name)
        self.model.make_train_function(force=True)
