"""Per-feature min-max scaling to a fixed range, with statistics from `adapt`."""

from __future__ import annotations

import keras
from keras import ops

from components.checks import invalid_value
from components.layers.adapted import AdaptedLayer, collect_array


@keras.saving.register_keras_serializable(package="components")
class MinMaxScaling(AdaptedLayer):
    """Scales each feature so its training min and max map to `feature_range`.

    The notes (Preprocessing): normalize "each dimension so that the min and
    max along the dimension is -1 and 1"; worth doing when features have
    different scales but similar importance (pixels rarely need it). As with
    every preprocessing statistic, `adapt` must only see training data.
    Statistics are kept per index of the last axis (per feature of tabular
    data, per channel of images). A feature that is constant in the training
    data maps to the middle of the range instead of dividing by zero.

    Args:
        feature_range: Pair of floats `(low, high)` with `low < high`.

    Call arguments:
        inputs: Tensor whose last axis holds the features.

    Example:

    >>> import numpy as np
    >>> layer = MinMaxScaling()
    >>> layer.adapt(np.array([[0.0, 5.0], [10.0, 5.0]]))
    >>> np.asarray(layer(np.array([[5.0, 5.0], [10.0, 7.0]])))
    array([[0., 0.],
           [1., 0.]], dtype=float32)
    """

    def __init__(self, feature_range=(-1.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        # (batch, ..., features): a rank-1 input would treat the batch as features.
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        try:
            low, high = (float(v) for v in feature_range)
        except (TypeError, ValueError):
            low, high = 1.0, 0.0
        if not low < high:
            raise ValueError(
                invalid_value(
                    "feature_range", feature_range, "a pair (low, high) with low < high"
                )
            )
        self.feature_range = (low, high)

    def build(self, input_shape):
        features = input_shape[-1]
        self.data_min = self.add_weight(
            shape=(features,), initializer="zeros", trainable=False, name="data_min"
        )
        self.data_max = self.add_weight(
            shape=(features,), initializer="zeros", trainable=False, name="data_max"
        )

    def adapt(self, data):
        """Computes the per-feature min and max of `data` (training data only)."""
        array = collect_array(data)
        if not self.built:
            self.build((None, *array.shape[1:]))
        flat = array.reshape(-1, array.shape[-1])
        self.data_min.assign(flat.min(axis=0).astype(self.data_min.dtype))
        self.data_max.assign(flat.max(axis=0).astype(self.data_max.dtype))
        self.adapted = True

    def call(self, inputs):
        self.check_adapted()
        low, high = self.feature_range
        spread = self.data_max - self.data_min
        constant = spread <= 0
        safe = ops.where(constant, ops.ones_like(spread), spread)
        unit = (inputs - self.data_min) / safe
        unit = ops.where(constant, ops.full_like(unit, 0.5), unit)
        return low + (high - low) * unit

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "feature_range": list(self.feature_range)}
