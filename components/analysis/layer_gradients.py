"""Gradients of a model's loss for each of its variables, without a training step."""

from __future__ import annotations

import keras
import numpy as np

from components.analysis.gradient_check import _analytic_gradients
from components.analysis.model_graph import leaf_layers


def mean_loss(loss):
    """`loss` (a name, function or `Loss`) as a function returning the batch mean."""
    fn = keras.losses.get(loss)
    if isinstance(fn, keras.losses.Loss):
        return fn
    return lambda y_true, y_pred: keras.ops.mean(fn(y_true, y_pred))


def variable_gradients(model, loss, x, y, training=True):
    """The gradient of `loss(y, model(x))` for every trainable variable.

    A stateless pass (`model.stateless_call`): no weight, batch-norm statistic
    or optimizer slot changes, on any backend.

    Args:
        model: A built `keras.Model`.
        loss: A loss name, function or `keras.losses.Loss`.
        x: Array. A batch of inputs.
        y: Array. Its targets.
        training: Boolean. The mode of the forward pass.

    Returns:
        A list of `(layer name, variable, weights, gradient)`, the arrays NumPy.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
    >>> found = variable_gradients(model, "mse", np.ones((4, 2)), np.zeros((4, 1)))
    >>> [(name, g.shape) for name, _, _, g in found]
    [('d', (2, 1)), ('d', (1,))]
    """
    fn = mean_loss(loss)
    trainable = [
        np.array(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables
    ]
    fixed = [v.value for v in model.non_trainable_variables]
    inputs = keras.ops.convert_to_tensor(x)

    def value(*weights):
        out, _ = model.stateless_call(list(weights), fixed, inputs, training=training)
        return fn(y, out)

    grads = _analytic_gradients(value, trainable)
    owners = {
        id(variable): layer.name
        for layer in leaf_layers(model)
        for variable in layer.trainable_variables
    }
    return [
        (owners.get(id(v), v.path), v, w, g)
        for v, w, g in zip(model.trainable_variables, trainable, grads)
    ]
