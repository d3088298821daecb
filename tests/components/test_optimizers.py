"""The notes' update rules (CS231n, Neural Networks III) against Keras's optimizers.

A few steps on f(x) = 0.5 * x^T A x (gradient A x) from the same start; each
test states the exact relation between the notes' numpy formula and Keras.
"""

import keras
import numpy as np
import pytest

A = np.diag([1.0, 4.0, 0.5])
X0 = np.array([1.0, -2.0, 3.0])
STEPS = 5


def grad(x):
    return A @ x


def keras_trajectory(optimizer):
    x = keras.Variable(X0.astype("float32"))
    path = []
    for _ in range(STEPS):
        g = grad(np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype="float64"))
        optimizer.apply_gradients(
            [(keras.ops.convert_to_tensor(g.astype("float32")), x)]
        )
        path.append(np.array(keras.ops.convert_to_numpy(x), dtype="float64"))
    return np.array(path)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def test_sgd():
    x, path = X0.copy(), []
    for _ in range(STEPS):
        x = x - 0.1 * grad(x)
        path.append(x)
    close(keras_trajectory(keras.optimizers.SGD(0.1)), path)


def test_momentum():
    # Notes: v = mu * v - lr * dx; x += v. Keras: the same.
    x, v, path = X0.copy(), np.zeros(3), []
    for _ in range(STEPS):
        v = 0.9 * v - 0.1 * grad(x)
        x = x + v
        path.append(x)
    close(keras_trajectory(keras.optimizers.SGD(0.1, momentum=0.9)), path)


def test_nesterov_is_the_lookahead_reparametrized():
    # Notes: x_ahead = x + mu v; v = mu v - lr grad(x_ahead); x += v.
    # Keras keeps phi = x + mu v (the look-ahead point) as its variable:
    # m = mu m - lr grad(phi); phi += mu m - lr grad(phi). Same v, same path of
    # look-ahead points.
    mu, lr = 0.9, 0.1
    x, v, lookahead = X0.copy(), np.zeros(3), []
    for _ in range(STEPS):
        v = mu * v - lr * grad(x + mu * v)
        x = x + v
        lookahead.append(x + mu * v)
    close(
        keras_trajectory(keras.optimizers.SGD(lr, momentum=mu, nesterov=True)),
        lookahead,
    )


def test_adagrad_epsilon_inside_the_root_and_initial_accumulator():
    # Notes: cache += dx**2; x -= lr * dx / (sqrt(cache) + eps).
    # Keras: the accumulator starts at `initial_accumulator_value` (0.1 by
    # default) and eps sits inside the root: x -= lr * dx / sqrt(cache + eps).
    lr, eps = 0.5, 1e-7
    x, cache, path = X0.copy(), np.full(3, 0.1), []
    for _ in range(STEPS):
        g = grad(x)
        cache += g**2
        x = x - lr * g / np.sqrt(cache + eps)
        path.append(x)
    close(keras_trajectory(keras.optimizers.Adagrad(lr, epsilon=eps)), path)
    # With no initial accumulator the notes' formula is recovered (eps ~ 0).
    x, cache, notes = X0.copy(), np.zeros(3), []
    for _ in range(STEPS):
        g = grad(x)
        cache += g**2
        x = x - lr * g / (np.sqrt(cache) + eps)
        notes.append(x)
    close(
        keras_trajectory(
            keras.optimizers.Adagrad(lr, initial_accumulator_value=0.0, epsilon=eps)
        ),
        notes,
    )


def test_rmsprop_epsilon_inside_the_root():
    # Notes: cache = decay * cache + (1 - decay) * dx**2;
    #        x -= lr * dx / (sqrt(cache) + eps). Keras: sqrt(cache + eps).
    lr, rho, eps = 0.01, 0.9, 1e-7
    x, cache, path = X0.copy(), np.zeros(3), []
    for _ in range(STEPS):
        g = grad(x)
        cache = rho * cache + (1 - rho) * g**2
        x = x - lr * g / np.sqrt(cache + eps)
        path.append(x)
    keras_path = keras_trajectory(keras.optimizers.RMSprop(lr, rho=rho, epsilon=eps))
    close(keras_path, path)
    notes = []
    x, cache = X0.copy(), np.zeros(3)
    for _ in range(STEPS):
        g = grad(x)
        cache = rho * cache + (1 - rho) * g**2
        x = x - lr * g / (np.sqrt(cache) + eps)
        notes.append(x)
    close(keras_path, notes)  # the placements differ by far less than 1e-6 here


def test_adam_adds_bias_correction():
    # Notes: m = b1 m + (1 - b1) dx; v = b2 v + (1 - b2) dx**2;
    #        x -= lr * m / (sqrt(v) + eps)   (no bias correction).
    # Keras: x -= lr_t * m / (sqrt(v) + eps) with
    #        lr_t = lr * sqrt(1 - b2**t) / (1 - b1**t).
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
    x, m, v, keras_rule, notes = X0.copy(), 0.0, 0.0, [], []
    xn, mn, vn = X0.copy(), 0.0, 0.0
    for t in range(1, STEPS + 1):
        g = grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        x = x - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
        keras_rule.append(x)
        gn = grad(xn)
        mn = b1 * mn + (1 - b1) * gn
        vn = b2 * vn + (1 - b2) * gn**2
        xn = xn - lr * mn / (np.sqrt(vn) + eps)
        notes.append(xn)
    keras_path = keras_trajectory(
        keras.optimizers.Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps)
    )
    close(keras_path, keras_rule)
    # m and v start at 0: with the correction the first step is lr per
    # coordinate; without it, (1 - b1) / sqrt(1 - b2) = 3.16 times larger.
    first_keras = np.abs(keras_path[0] - X0)
    first_notes = np.abs(notes[0] - X0)
    np.testing.assert_allclose(first_keras, lr, rtol=1e-4)
    np.testing.assert_allclose(first_notes, lr * (1 - b1) / np.sqrt(1 - b2), rtol=1e-4)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_helper_uses_the_optimizer(name):
    # Guard for the helper itself: a zero learning rate does not move.
    optimizer = keras.optimizers.get(
        {"class_name": name, "config": {"learning_rate": 0.0}}
    )
    close(keras_trajectory(optimizer), np.tile(X0, (STEPS, 1)))
