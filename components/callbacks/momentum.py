"""Momentum scheduling for SGD that changes the compiled updates, not just an attribute."""

from __future__ import annotations

import sys

import keras

from components.checks import invalid_value

# The backends whose SGD reads `momentum` inside the compiled step, where
# `VariableMomentum` turns into the variable's current value.
BACKENDS = ("tensorflow", "jax")


class VariableMomentum(float):
    """A momentum that SGD reads from a variable inside its compiled step.

    Keras's `SGD` keeps `momentum` as a Python float, which a compiled train
    step bakes in as a constant: assigning a new float to
    `optimizer.momentum` between epochs leaves the updates unchanged. This
    float subclass keeps SGD's Python-side checks (`momentum != 0`) and its
    config (a plain float) working, while every backend converts it to the
    current value of a variable tracked by the optimizer (TensorFlow through
    `__tf_tensor__`, JAX through `__jax_array__`).
    """

    def __new__(cls, value, variable):
        obj = super().__new__(cls, value)
        obj.variable = variable
        return obj

    def __tf_tensor__(self, dtype=None, name=None):
        import tensorflow as tf

        return tf.convert_to_tensor(self.variable.value, dtype=dtype, name=name)

    def __jax_array__(self):
        return self.variable.value

    def __reduce__(self):  # copies and pickles are plain floats
        return (float, (float(self),))


class MomentumScheduler(keras.callbacks.Callback):
    """Sets the momentum of SGD (plain or Nesterov) at the start of each epoch.

    Like `keras.callbacks.LearningRateScheduler`, for momentum; the notes:
    "decrease momentum with epochs" (the opposite schedule, raising it from
    0.5 to 0.99, is also common: CS231n). The optimizer must be
    `keras.optimizers.SGD` built with a momentum above 0 (otherwise it keeps
    no velocity to schedule). The momentum lives in a variable of the
    optimizer, so the compiled updates follow the schedule on the TensorFlow
    and JAX backends; on others (torch) it refuses to start rather than log
    a momentum that is not applied. The value is logged as `momentum`.

    Args:
        schedule: Callable `(epoch, momentum) -> float` in [0, 1), where
            `momentum` is the current value (epochs count from 0).
        verbose: Integer. 1 prints the momentum at each change.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "mse")
    >>> scheduler = MomentumScheduler(lambda epoch, m: 0.9 - 0.2 * epoch)
    >>> history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=3,
    ...                     callbacks=[scheduler], verbose=0)
    >>> [round(m, 2) for m in history.history["momentum"]]
    [0.9, 0.7, 0.5]
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if keras.backend.backend() not in BACKENDS:
            # Keras's torch SGD multiplies by the Python float it was built
            # with: the variable would be logged but never applied.
            raise ValueError(
                "MomentumScheduler applies its schedule on the "
                f"{' and '.join(BACKENDS)} backends only; Keras's SGD on the "
                f"{keras.backend.backend()!r} backend reads momentum as a constant, "
                "so the scheduled value would be logged but not applied."
            )
        if not callable(schedule):
            raise ValueError(
                invalid_value(
                    "schedule", schedule, "a callable (epoch, momentum) -> float"
                )
            )
        self.schedule = schedule
        self.verbose = verbose
        self._variable = None

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if (
            not isinstance(optimizer, keras.optimizers.SGD)
            or not optimizer.momentum > 0
        ):
            raise ValueError(
                "MomentumScheduler needs keras.optimizers.SGD with momentum > 0 "
                f"(plain or nesterov=True). Received: {type(optimizer).__name__} with "
                f"momentum={getattr(optimizer, 'momentum', None)!r}"
            )
        if isinstance(optimizer.momentum, VariableMomentum):
            self._variable = optimizer.momentum.variable  # a second fit reuses it
        else:
            if not optimizer.built:
                optimizer.build(self.model.trainable_variables)
            self._variable = optimizer.add_variable(
                shape=(), initializer="zeros", name="scheduled_momentum"
            )
            self._variable.assign(float(optimizer.momentum))
            optimizer.momentum = VariableMomentum(
                float(optimizer.momentum), self._variable
            )

    def on_epoch_begin(self, epoch, logs=None):
        current = float(keras.ops.convert_to_numpy(self._variable))
        value = self.schedule(epoch, current)
        if not isinstance(value, (float, int)) or isinstance(value, bool):
            raise ValueError(
                "The momentum schedule must return a float. Received: "
                f"{value!r} ({type(value).__name__}) at epoch {epoch}"
            )
        if not 0.0 <= value < 1.0:
            raise ValueError(
                f"The momentum schedule must return a value in [0, 1). Received: "
                f"{value} at epoch {epoch}"
            )
        self._variable.assign(float(value))
        if self.verbose and value != current:
            sys.stdout.write(
                f"\nEpoch {epoch + 1}: MomentumScheduler setting momentum to {value}.\n"
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["momentum"] = float(keras.ops.convert_to_numpy(self._variable))

    def on_train_end(self, logs=None):
        # The optimizer's config now reports the last scheduled value.
        value = float(keras.ops.convert_to_numpy(self._variable))
        self.model.optimizer.momentum = VariableMomentum(value, self._variable)
