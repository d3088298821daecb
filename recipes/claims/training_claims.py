"""Claims about initialization and the update rule: init, momentum, clipping."""

from __future__ import annotations

import keras
import numpy as np

from components.callbacks import MomentumScheduler
from recipes.claims import kit
from recipes.claims.claim import Claim, Comparison

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


def run_init(arm, seed, quick):
    data = kit.digits(8, seed, flat=True, standardized=True)
    model = kit.mlp([64] * (8 if quick else 30), init=INITS[arm], seed=seed)
    epochs = 2 if quick else 15
    result = kit.train(model, data, seed=seed, epochs=epochs, rate=0.01, momentum=0.9)
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


def run_xavier_fcn(arm, seed, quick):
    network, init = arm.split("_")
    init = "glorot_normal" if init == "xavier" else "he_normal"
    if network == "fcn":
        data = kit.digits(8, seed, standardized=True)
        model = kit.mlp([256, 256], input_shape=(8, 8, 1), init=init, seed=seed)
    else:
        data = kit.digits(16, seed)
        model = kit.cnn([16, 16, 32, 32], init=init, seed=seed)
    epochs = 2 if quick else 10
    return kit.train(model, data, seed=seed, epochs=epochs, rate=0.02, momentum=0.9)


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
    data = kit.digits(8, seed, flat=True, standardized=True)
    epochs = 2 if quick else 12
    model = kit.mlp([128, 128], seed=seed)
    # A momentum above 0 makes SGD keep a velocity; the schedule sets its value.
    scheduler = MomentumScheduler(lambda epoch, _: momentum_at(arm, epoch, epochs))
    return kit.train(
        model,
        data,
        seed=seed,
        epochs=epochs,
        rate=0.01,
        momentum=0.9,
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
    data = kit.digits(8, seed, flat=True, standardized=True)
    model = kit.mlp([256, 256], seed=seed)
    clip = {"global_clipnorm": 1.0} if arm == "clipped" else {}
    epochs = 2 if quick else 10
    result = kit.train(model, data, seed=seed, epochs=epochs, rate=1.0, **clip)
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
