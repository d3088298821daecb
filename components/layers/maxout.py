"""Maxout: the maximum over k linear pieces."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="components")
class Maxout(keras.layers.Layer):
    """Maxout activation (Goodfellow et al., 2013).

    The notes (CS231n, Neural Networks I): the Maxout neuron computes
    `max(w1.x + b1, w2.x + b2)`, generalizing ReLU and leaky ReLU without their
    dying units, at the price of k times the parameters. Put it after a layer
    with `num_units * k` outputs (for example `Dense(num_units * k)`): this
    layer takes the max over each group of k consecutive channels.

    Channels are grouped contiguously: along `axis`, unit `u` is the maximum
    of channels `u * k, ..., u * k + k - 1`, where `k = channels // num_units`
    (the grouping of tensorflow-addons' `Maxout`).

    Args:
        num_units: Integer. Number of output units along `axis`; the channel
            count of the input must be a multiple of it.
        axis: Integer. The channel axis. Defaults to -1.

    Call arguments:
        inputs: Tensor whose size along `axis` is a multiple of `num_units`.

    Example:

    >>> import numpy as np
    >>> x = np.array([[1.0, 5.0, -2.0, -3.0]])
    >>> np.asarray(Maxout(num_units=2)(x))
    array([[ 5., -2.]], dtype=float32)
    """

    def __init__(self, num_units, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if (
            not isinstance(num_units, int)
            or isinstance(num_units, bool)
            or num_units < 1
        ):
            raise ValueError(
                "Invalid value received for argument `num_units`. Expected a positive "
                f"integer. Received: num_units={num_units!r}"
            )
        if not isinstance(axis, int):
            raise ValueError(
                "Invalid value received for argument `axis`. Expected an integer. "
                f"Received: axis={axis!r}"
            )
        self.num_units = num_units
        self.axis = axis

    def build(self, input_shape):
        channels = input_shape[self.axis]
        if channels is None or channels % self.num_units:
            raise ValueError(
                f"Invalid input for Maxout: the size along axis {self.axis} is "
                f"{channels}, which is not a multiple of num_units={self.num_units}."
            )
        self.pieces = channels // self.num_units

    def call(self, inputs):
        moved = ops.moveaxis(inputs, self.axis, -1)
        shape = ops.shape(moved)
        grouped = ops.reshape(moved, (*shape[:-1], self.num_units, self.pieces))
        return ops.moveaxis(ops.max(grouped, axis=-1), -1, self.axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self.axis] = self.num_units
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "num_units": self.num_units, "axis": self.axis}
