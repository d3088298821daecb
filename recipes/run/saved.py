"""A finished run's saved model, as the commands that use one read it."""

from __future__ import annotations

import json
import os

import keras

from components import serving


def load_model(path):
    """The serving model at `path` (a run directory or a `.keras` file), its
    `serving.serving_info`, and the run's config when there is one (`{}`)."""
    config = {}
    if os.path.isdir(path):
        config_file = os.path.join(path, "config.json")
        if os.path.isfile(config_file):
            with open(config_file) as f:
                config = json.load(f)
        path = os.path.join(path, "model.keras")
    if not os.path.isfile(path):
        raise ValueError(
            f"No model at {path!r}: pass a finished run directory or a .keras file."
        )
    model = keras.saving.load_model(path, safe_mode=True)
    return model, serving.serving_info(model), config
