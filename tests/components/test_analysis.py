import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from components.analysis import gradient_check, layer_gradient_check
from tests.components.layer_checks import assert_gradients_ok


def test_numerical_and_analytic_gradients_of_a_cubic():
    x = np.array([0.5, -1.0, 2.0, 3.0])
    result = gradient_check(lambda v: ops.sum(v**3), x)
    tolerance = 1e-4 if result.threshold < 1e-3 else 1e-2  # float64 or float32
    np.testing.assert_allclose(result.analytic[0], 3 * x**2, rtol=tolerance)
    np.testing.assert_allclose(result.numerical[0], 3 * x**2, rtol=tolerance)
    assert_gradients_ok(result)


def test_several_inputs_and_tensor_outputs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    result = gradient_check(lambda p, q: ops.tanh(ops.matmul(p, q)), [a, b])
    assert [g.shape for g in result.analytic] == [(3, 4), (4, 2)]
    assert_gradients_ok(result)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="tf.custom_gradient"
)
def test_a_wrong_gradient_fails_the_check():
    @tf.custom_gradient
    def bad_square(x):
        return x * x, lambda upstream: upstream * x  # should be 2x

    result = gradient_check(
        lambda v: tf.reduce_sum(bad_square(v)), np.array([1.0, 2.0])
    )
    assert not result.passed and result.max_relative_error > 0.3
    assert "FAILED" in result.summary()


def test_large_inputs_are_subsampled():
    x = np.linspace(-1, 1, 1000)
    result = gradient_check(lambda v: ops.sum(ops.sin(v)), x, max_elements=50)
    assert len(result.checked[0]) == 50 and len(set(result.checked[0])) == 50
    assert result.analytic[0].shape == (1000,)
    assert_gradients_ok(result)


def test_model_loss_gradient_wrt_input_and_weights():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((5,), dtype="float64"),
            keras.layers.Dense(4, activation="tanh", dtype="float64"),
            keras.layers.Dense(3, activation="softmax", dtype="float64"),
        ]
    )
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 5)), rng.integers(0, 3, size=6)
    result = layer_gradient_check(
        model,
        x,
        loss=keras.losses.SparseCategoricalCrossentropy(dtype="float64"),
        targets=y,
    )
    assert len(result.analytic) == 1 + len(model.trainable_weights)
    assert_gradients_ok(result)


def test_float32_gets_a_loose_threshold_and_a_warning():
    with pytest.warns(UserWarning, match="float32"):
        result = gradient_check(lambda v: ops.sum(ops.exp(v)), np.ones(3, "float32"))
    assert result.threshold == 1e-2 and result.passed
