"""What the recipe tests read back from a run directory."""

import csv

import keras
import numpy as np


def saved_weights(path):
    """The weights of a saved model, loaded in safe mode, as NumPy arrays."""
    model = keras.saving.load_model(path, safe_mode=True)
    return [np.asarray(w) for w in model.weights]


def history_epochs(path):
    """The epoch column of a history CSV."""
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]
