"""RReLU: a leaky ReLU whose negative slope is random while training."""

from __future__ import annotations

import keras
from keras import ops

from components.checks import check_seed, invalid_value


@keras.saving.register_keras_serializable(package="components")
class RReLU(keras.layers.Layer):
    """Randomized leaky ReLU (Xu et al., 2015).

    The notes: "for RReLU, alpha_ji is a random variable keeps sampling in a
    given range, and remains fixed in testing". While training, each element
    gets its own negative slope drawn uniformly from `[lower, upper]`; at
    inference the slope is fixed at their mean, `(lower + upper) / 2`, the
    expected training slope. Keras ships the fixed (`LeakyReLU`) and learned
    (`PReLU`) variants; this is the random one.

    Args:
        lower: Float. Smallest negative slope, `0 <= lower <= upper`.
        upper: Float. Largest negative slope, `upper <= 1`.
        seed: Integer or `None`. Seed of the slope sampling.

    Call arguments:
        inputs: Any tensor.
        training: Boolean. Sample the slopes (True) or use their mean.

    Example:

    >>> import numpy as np
    >>> layer = RReLU(lower=0.1, upper=0.3)
    >>> np.asarray(layer(np.array([-1.0, 2.0]), training=False))
    array([-0.2,  2. ], dtype=float32)
    """

    def __init__(self, lower=1.0 / 8.0, upper=1.0 / 3.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("lower", lower), ("upper", upper)):
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(invalid_value(name, value, "a float in [0, 1]"))
        if lower > upper:
            raise ValueError(
                "Invalid values received for arguments `lower` and `upper`. Expected "
                f"lower <= upper. Received: lower={lower}, upper={upper}"
            )
        self.lower = float(lower)
        self.upper = float(upper)
        self.seed = check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if training:
            slope = keras.random.uniform(
                ops.shape(inputs),
                minval=self.lower,
                maxval=self.upper,
                dtype=inputs.dtype,
                seed=self.seed_generator,
            )
        else:
            slope = (self.lower + self.upper) / 2.0
        return ops.where(inputs >= 0, inputs, inputs * slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "lower": self.lower,
            "upper": self.upper,
            "seed": self.seed,
        }
