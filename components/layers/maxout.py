"""Maxout: the maximum over k linear pieces."""

from __future__ import annotations

import keras
from keras import ops

from components.checks import invalid_value


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
        # (batch, ..., features): a rank-1 input would treat the batch as features.
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        if (
            not isinstance(num_units, int)
            or isinstance(num_units, bool)
            or num_units < 1
        ):
            raise ValueError(
                invalid_value("num_units", num_units, "a positive integer")
            )
        if not isinstance(axis, int):
            raise ValueError(invalid_value("axis", axis, "an integer"))
        self.num_units = num_units
        self.axis = axis

    def build(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape):
            raise ValueError(
                f"Invalid value received for argument `axis`: inputs of rank "
                f"{len(input_shape)} (shape {tuple(input_shape)}) have no axis "
                f"{self.axis}. Received: axis={self.axis}"
            )
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
        # A running maximum over the (few) pieces: TensorFlow's reduce-max
        # refuses an empty tensor, so an empty batch would fail.
        largest = grouped[..., 0]
        for piece in range(1, self.pieces):
            largest = ops.maximum(largest, grouped[..., piece])
        return ops.moveaxis(largest, -1, self.axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self.axis] = self.num_units
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "num_units": self.num_units, "axis": self.axis}
