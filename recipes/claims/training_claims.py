"""Claims about initialization and the update rule: init, momentum, clipping."""

from __future__ import annotations

import keras
import numpy as np

from components.callbacks import MomentumScheduler
from recipes.claims.claim import Claim, Comparison
from recipes.claims.experiments import digits, fit_and_score, standardize

INITS = {
    "small": lambda fan_in: keras.initializers.RandomNormal(stddev=0.01),
    "xavier": lambda fan_in: keras.initializers.RandomNormal(
        stddev=1 / np.sqrt(fan_in)
    ),
    "he": lambda fan_in: keras.initializers.RandomNormal(stddev=np.sqrt(2 / fan_in)),
}


def per_layer_std(activation, init, seed, layers=10, units=500, examples=1000):
    """CS231n's figure: the std of each of ten layers' activations at init, for
    unit-Gaussian inputs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(examples, units)).astype("float32")
    keras.utils.set_random_seed(seed)
    stds = []
    for _ in range(layers):
        layer = keras.layers.Dense(
            units, activation=activation, kernel_initializer=INITS[init](units)
        )
        x = np.asarray(layer(x))
        stds.append(float(x.std()))
    return stds


def _deep_relu(init, depth, units=64):
    layers = [keras.Input((64,))]
    fan_in = 64
    for _ in range(depth):
        layers.append(
            keras.layers.Dense(
                units, activation="relu", kernel_initializer=INITS[init](fan_in)
            )
        )
        fan_in = units
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)


def run_init(arm, seed, quick):
    x, y, xt, yt = digits(8, seed)
    x, xt = standardize(x.reshape(len(x), -1), xt.reshape(len(xt), -1))
    keras.utils.set_random_seed(seed)
    depth = 8 if quick else 30
    result = fit_and_score(
        _deep_relu(arm, depth),
        x,
        y,
        xt,
        yt,
        epochs=2 if quick else 15,
        seed=seed,
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
    )
    stds = {
        activation: {
            init: per_layer_std(activation, init, seed, units=100 if quick else 500)
            for init in INITS
        }
        for activation in ("tanh", "relu")
    }
    return {**result, "per_layer_std": stds}


INIT = Claim(
    name="init",
    words="Use the variance calibration: w = randn(n) / sqrt(n) ... for ReLU "
    "neurons, w = randn(n) * sqrt(2.0 / n).",
    experiment="CS231n's figure: ten 500-unit layers, tanh and ReLU, at 0.01 "
    "N(0, 1), N(0, 1)/sqrt(n) (Xavier) and He, unit-Gaussian inputs: each layer's "
    "activation std (per_layer_std in claims.json). Then a plain 30-layer, "
    "64-unit ReLU MLP without batch norm on the standardized digits, Xavier against "
    "He, 15 epochs of SGD + momentum 0.9 at 0.01: test accuracy.",
    paper="He et al. 2015: a 30-layer plain ReLU net stalls with Xavier and "
    "converges with their initialization.",
    arms=("he", "xavier"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("he", "xavier"),),
    run=run_init,
)


def _fcn(init):
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu", kernel_initializer=init),
            keras.layers.Dense(256, activation="relu", kernel_initializer=init),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def _cnn(init):
    layers = [keras.Input((16, 16, 1))]
    for filters in (16, 16, 32, 32):
        layers.append(
            keras.layers.Conv2D(
                filters, 3, padding="same", activation="relu", kernel_initializer=init
            )
        )
    layers += [
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ]
    return keras.Sequential(layers)


def run_xavier_fcn(arm, seed, quick):
    network, init = arm.split("_")
    size = 8 if network == "fcn" else 16
    x, y, xt, yt = digits(size, seed)
    if network == "fcn":
        x, xt = standardize(x, xt)
    keras.utils.set_random_seed(seed)
    build = _fcn if network == "fcn" else _cnn
    model = build("glorot_normal" if init == "xavier" else "he_normal")
    return fit_and_score(
        model,
        x,
        y,
        xt,
        yt,
        epochs=2 if quick else 10,
        seed=seed,
        optimizer=keras.optimizers.SGD(0.02, momentum=0.9),
    )


XAVIER_FCN = Claim(
    name="xavier_fcn",
    words="Use Xavier init on FCN (not on CNN).",
    experiment="A two-layer, 256-unit ReLU MLP on standardized 8x8 digits and a "
    "four-layer ReLU CNN (no batch norm) on 16x16 digits, each with Glorot (Xavier) "
    "normal and He normal init, 10 epochs of SGD + momentum 0.9 at 0.02; test "
    "accuracy. Judged: Xavier against He on the MLP, He against Xavier on the CNN.",
    paper="Glorot and Bengio 2010 (Xavier, for tanh and sigmoid MLPs); He et al. "
    "2015 (for ReLU, convolutional).",
    arms=("fcn_xavier", "fcn_he", "cnn_xavier", "cnn_he"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(
        Comparison("fcn_xavier", "fcn_he"),
        Comparison("cnn_he", "cnn_xavier"),
    ),
    run=run_xavier_fcn,
)


def momentum_at(arm, epoch, epochs):
    """The momentum of `arm`'s schedule at `epoch` (linear over the epochs)."""
    progress = epoch / max(epochs - 1, 1)
    if arm == "decreasing":
        return 0.99 - (0.99 - 0.5) * progress
    if arm == "increasing":
        return 0.5 + (0.99 - 0.5) * progress
    return 0.9


def run_momentum(arm, seed, quick):
    x, y, xt, yt = digits(8, seed)
    x, xt = standardize(x.reshape(len(x), -1), xt.reshape(len(xt), -1))
    epochs = 2 if quick else 12
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    scheduler = MomentumScheduler(lambda epoch, _: momentum_at(arm, epoch, epochs))
    return fit_and_score(
        model,
        x,
        y,
        xt,
        yt,
        epochs=epochs,
        seed=seed,
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        callbacks=[scheduler],
    )


MOMENTUM = Claim(
    name="momentum",
    words="Decrease momentum with epochs.",
    experiment="A two-layer, 128-unit ReLU MLP on standardized 8x8 digits, 12 "
    "epochs of SGD at 0.01 with momentum falling 0.99 to 0.5, constant 0.9, or "
    "rising 0.5 to 0.99 (linearly over the epochs); test accuracy.",
    paper="Against the notes: CS231n and Sutskever et al. 2013 raise momentum over "
    "training (0.5 to 0.99).",
    arms=("decreasing", "constant", "increasing"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("decreasing", "constant"),),
    run=run_momentum,
)


def run_gradient_clipping(arm, seed, quick):
    x, y, xt, yt = digits(8, seed)
    x, xt = standardize(x.reshape(len(x), -1), xt.reshape(len(xt), -1))
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    clip = {"global_clipnorm": 1.0} if arm == "clipped" else {}
    result = fit_and_score(
        model,
        x,
        y,
        xt,
        yt,
        epochs=2 if quick else 10,
        seed=seed,
        optimizer=keras.optimizers.SGD(1.0, **clip),
    )
    result["diverged"] = float(not np.isfinite(result["train_loss"]))
    return result


GRADIENT_CLIPPING = Claim(
    name="gradient_clipping",
    words="Use gradient clipping.",
    experiment="A two-layer, 256-unit ReLU MLP on standardized 8x8 digits at a "
    "high rate (plain SGD at 1.0), with and without clipping the global gradient "
    "norm to 1; test accuracy after 10 epochs and whether the loss diverged.",
    paper="Pascanu et al. 2013: clipping keeps exploding gradients from "
    "derailing training (recurrent nets).",
    arms=("clipped", "unclipped"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("clipped", "unclipped"),),
    run=run_gradient_clipping,
)

CLAIMS = (INIT, XAVIER_FCN, MOMENTUM, GRADIENT_CLIPPING)
