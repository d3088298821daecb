"""Non-inverted ("vanilla") dropout: scale at test time, not at training time."""

from __future__ import annotations

import keras
from keras import ops

from components.checks import check_seed, invalid_value


@keras.saving.register_keras_serializable(package="components")
class VanillaDropout(keras.layers.Layer):
    """Dropout as first published: drop while training, scale at test time.

    The notes (CS231n, Neural Networks II): "multiply the weights by
    (1 - dropout probability) at test time", so that the test-time output
    equals the expected training-time output. While training each element is
    kept with probability `1 - rate` and left unscaled; at inference every
    output is multiplied by `1 - rate`.

    Keras's `Dropout` is the "inverted dropout" of the notes: it divides the
    kept elements by `1 - rate` while training and does nothing at test time,
    which is cheaper at inference. The two agree up to that constant factor:
    `E[VanillaDropout(x)] = (1 - rate) * E[Dropout(x)] = (1 - rate) * x`. Use
    Keras's `Dropout` in new models; this layer exists to show the difference
    and to reproduce models trained the old way.

    Args:
        rate: Float in [0, 1). Probability of dropping an element.
        seed: Integer or `None`. Seed of the dropout masks.

    Call arguments:
        inputs: Any tensor.
        training: Boolean. Drop (True) or scale (False).

    Example:

    >>> import numpy as np
    >>> np.asarray(VanillaDropout(0.25)(np.ones(3), training=False))
    array([0.75, 0.75, 0.75], dtype=float32)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(invalid_value("rate", rate, "a float in [0, 1)"))
        self.rate = float(rate)
        self.seed = check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            keep = (
                keras.random.uniform(
                    ops.shape(inputs), dtype=inputs.dtype, seed=self.seed_generator
                )
                >= self.rate
            )
            return ops.where(keep, inputs, ops.zeros_like(inputs))
        return inputs * (1.0 - self.rate)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
