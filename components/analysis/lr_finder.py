"""The learning-rate range test (Smith 2017, fastai's `lr_find`) for Keras."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from components.checks import check_positive_int, invalid_value


@dataclasses.dataclass
class LearningRateSweep:
    """What `find_learning_rate` measured.

    Attributes:
        rates: List of floats. The rate of each step.
        losses: List of floats. The training loss of each step.
        smoothed: List of floats. The bias-corrected moving average of `losses`.
        suggestion: Float or `None`. A tenth of the rate at the smoothed
            loss's minimum after the burn-in (fastai's "minimum / 10").
        diverged_at: Float or `None`. The rate where the smoothed loss passed
            `divergence` times its minimum (the sweep stopped there).
        burn_in: Integer. Steps ignored when looking for the minimum.
    """

    rates: list
    losses: list
    smoothed: list
    suggestion: float | None
    diverged_at: float | None
    burn_in: int


def _batches(data, batch_size):
    """An endless iterator of `(x, y)` NumPy batches."""
    if isinstance(data, (tuple, list)):
        x, y = (np.asarray(v) for v in data)
        if len(x) != len(y):
            raise ValueError(
                f"Expected x and y of the same length; received {len(x)} and {len(y)}."
            )
        if len(x) == 0:
            raise ValueError("The data holds no examples.")
        while True:  # whole batches; one short batch when there are fewer
            for start in range(0, max(len(x) - batch_size + 1, 1), batch_size):
                yield x[start : start + batch_size], y[start : start + batch_size]
    while True:
        count = 0
        for x, y in data.as_numpy_iterator():
            count += 1
            yield x, y
        if count == 0:
            raise ValueError("The dataset yields no batches.")


def find_learning_rate(
    model,
    data,
    *,
    start=1e-7,
    stop=10.0,
    steps=100,
    smoothing=0.98,
    divergence=4.0,
    burn_in=0.1,
    batch_size=32,
):
    """Sweeps the learning rate exponentially over `steps` training steps.

    The rate grows from `start` to `stop`, one step per rate; the loss is
    smoothed by a bias-corrected moving average and the sweep stops once it
    exceeds `divergence` times its lowest value. The first `burn_in` share of
    the steps is ignored when looking for the minimum, so an early spike
    cannot fool the suggestion. Afterwards the model's weights **and** its
    optimizer's state (moments, iteration count, learning rate) are put back
    exactly as they were: the sweep leaves no trace.

    Args:
        model: A compiled `keras.Model` whose optimizer's learning rate is a
            float (not a schedule).
        data: A `tf.data.Dataset` of `(x, y)` batches, or a tuple `(x, y)` of
            arrays (batched by `batch_size`).
        start: Float > 0. The first rate.
        stop: Float > start. The last rate.
        steps: Integer >= 10. Steps of the sweep.
        smoothing: Float in [0, 1). Weight of the moving average.
        divergence: Float > 1. Stop when the smoothed loss passes this times
            its minimum.
        burn_in: Float in [0, 1). Share of the first steps ignored.
        batch_size: Integer. Batch size for array data.

    Returns:
        A `LearningRateSweep`.

    Example:

    >>> import keras, numpy as np
    >>> x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    >>> y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01), "mse")
    >>> before = model.get_weights()
    >>> sweep = find_learning_rate(model, (x, y), steps=60)
    >>> 1e-4 < sweep.suggestion < 1.0, sweep.diverged_at is not None
    (True, True)
    >>> all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    True
    """
    for name, value in (("start", start), ("stop", stop)):
        if not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(invalid_value(name, value, "a positive float"))
    if stop <= start:
        raise ValueError(invalid_value("stop", stop, f"a float above start={start}"))
    check_positive_int("steps", steps, 10)
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(invalid_value("smoothing", smoothing, "a float in [0, 1)"))
    if not divergence > 1.0:
        raise ValueError(invalid_value("divergence", divergence, "a float above 1"))
    if not 0.0 <= burn_in < 1.0:
        raise ValueError(invalid_value("burn_in", burn_in, "a float in [0, 1)"))
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError("find_learning_rate needs a compiled model (an optimizer).")
    if isinstance(
        optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule
    ):
        raise ValueError(
            "find_learning_rate needs a float learning rate, not a schedule: "
            "compile a copy of the model with a float rate to sweep it."
        )
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    weights = [np.array(w) for w in model.get_weights()]
    iterator = _batches(data, batch_size)
    x, y = next(iterator)
    saved = [np.array(keras.ops.convert_to_numpy(v)) for v in optimizer.variables]
    rates = start * (stop / start) ** (np.arange(steps) / (steps - 1))
    losses, smoothed, diverged_at = [], [], None
    average, lowest = 0.0, np.inf
    skip = int(burn_in * steps)
    try:
        for step, rate in enumerate(rates):
            optimizer.learning_rate = float(rate)
            logs = model.train_on_batch(x, y, return_dict=True)
            loss = float(logs["loss"])
            losses.append(loss)
            average = smoothing * average + (1 - smoothing) * loss
            value = average / (1 - smoothing ** (step + 1))
            smoothed.append(value)
            if not np.isfinite(value):
                diverged_at = float(rate)
                break
            if step >= skip:
                lowest = min(lowest, value)
                if value > divergence * lowest:
                    diverged_at = float(rate)
                    break
            x, y = next(iterator)
    finally:
        model.set_weights(weights)
        for variable, value in zip(optimizer.variables, saved):
            variable.assign(value)
    kept = np.asarray(smoothed[skip:])
    finite = np.isfinite(kept)
    suggestion = None
    if finite.any():
        best = skip + int(np.argmin(np.where(finite, kept, np.inf)))
        suggestion = float(rates[best] / 10.0)
    return LearningRateSweep(
        rates=[float(r) for r in rates[: len(losses)]],
        losses=losses,
        smoothed=smoothed,
        suggestion=suggestion,
        diverged_at=diverged_at,
        burn_in=skip,
    )
