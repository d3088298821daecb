"""The shared parts of the claims' experiments: data, training, timing."""

from __future__ import annotations

import functools
import time

import keras
import numpy as np

from components import data


@functools.lru_cache(maxsize=8)
def digits(image_size=8, seed=0):
    """`(x_train, y_train, x_test, y_test)` of the digits (train + validation
    as training data), images in [0, 1]."""
    splits = data.load("digits", image_size=image_size, seed=seed)
    x, y = splits.as_numpy("train")
    xv, yv = splits.as_numpy("validation")
    xt, yt = splits.as_numpy("test")
    return np.concatenate([x, xv]), np.concatenate([y, yv]), xt, yt


@functools.lru_cache(maxsize=8)
def digits_with_validation(image_size=8, seed=0):
    """`(x, y, x_validation, y_validation, x_test, y_test)` of the digits."""
    splits = data.load("digits", image_size=image_size, seed=seed)
    return (
        *splits.as_numpy("train"),
        *splits.as_numpy("validation"),
        *splits.as_numpy("test"),
    )


def standardize(x_train, *others):
    """Zero mean, unit variance per feature, statistics from training only."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0) + 1e-6
    return [(v - mean) / std for v in (x_train, *others)]


def fit_and_score(
    model,
    x,
    y,
    xt,
    yt,
    *,
    epochs,
    seed,
    optimizer,
    loss=None,
    batch_size=64,
    callbacks=(),
):
    """Trains `model` (seeded) and returns its test accuracy and last loss."""
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=optimizer,
        loss=loss or "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        shuffle=True,
        callbacks=list(callbacks),
    )
    scores = model.predict(xt, verbose=0, batch_size=512)
    return {
        "test_accuracy": float(np.mean(np.argmax(scores, axis=-1) == yt)),
        "train_loss": float(history.history["loss"][-1]),
    }


def seconds_per_call(function, repeats=5):
    """The median wall time of `function()` over `repeats` calls (one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
