"""Shared checks for custom layers: shape, config and `.keras` round trips,
and the gradient check at the strictness the backend allows."""

import keras
import numpy as np

from components.analysis import GradientCheckResult


def output_of(layer, x, training=False):
    return np.asarray(layer(x, training=training))


def check_layer(layer, x, tmp_path, rtol=1e-6):
    """Shape, config round trip and `.keras` round trip (safe_mode) of `layer`."""
    y = output_of(layer, x)
    assert tuple(layer.compute_output_shape(x.shape)) == y.shape

    clone = type(layer).from_config(layer.get_config())
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    if hasattr(layer, "adapted"):
        clone.adapted = layer.adapted
    np.testing.assert_allclose(output_of(clone, x), y, rtol=rtol, atol=1e-6)

    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), y, rtol=rtol, atol=1e-6)
    return y


def assert_gradients_ok(result: GradientCheckResult):
    """The check passed; on TensorFlow (float64) it passed at 1e-6."""
    assert result.passed, result.summary()
    if keras.backend.backend() == "tensorflow":
        assert result.threshold <= 1e-6 and result.max_relative_error < 1e-6
