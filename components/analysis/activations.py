"""What a layer outputs (ReLU, sigmoid, tanh) and how many of its units are
dead or saturated."""

from __future__ import annotations

import keras
import numpy as np


def activation_kind(layer):
    """`"relu"`, `"sigmoid"`, `"tanh"` or `None` for what a layer outputs."""
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    fn = getattr(layer, "activation", None)
    name = getattr(fn, "__name__", None)
    return name if name in ("relu", "sigmoid", "tanh") else None


def activation_statistics(kind, values):
    """Dead fraction (ReLU) or saturated fraction (sigmoid, tanh) of activations.

    A ReLU unit (a channel, the last axis) is dead when it outputs 0 for every
    probe example at every position. A sigmoid output is saturated outside
    [0.01, 0.99], a tanh output when its magnitude exceeds 0.99: there the
    local gradient is under about 1% of its peak and "kills" the signal.
    """
    if kind == "relu":
        per_unit = values.reshape(-1, values.shape[-1]).max(axis=0)
        return float(np.mean(per_unit <= 0))
    if kind == "sigmoid":
        return float(np.mean((values < 0.01) | (values > 0.99)))
    return float(np.mean(np.abs(values) > 0.99))
