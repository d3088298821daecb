"""Helpers for callbacks that read a model's weights in the middle of training."""

from __future__ import annotations

import keras
import numpy as np

from components.analysis.model_graph import leaf_layers

__all__ = ["layer_weights", "leaf_layers", "sync_weights"]


def sync_weights(model):
    """Makes the variables current (JAX keeps them in the train state mid-epoch)."""
    if keras.backend.backend() == "jax" and hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def layer_weights(model):
    """`{layer name: [trainable weight arrays]}` for the layers that have any."""
    return {
        layer.name: [
            np.array(keras.ops.convert_to_numpy(v)) for v in layer.trainable_variables
        ]
        for layer in leaf_layers(model)
        if layer.trainable_variables
    }
