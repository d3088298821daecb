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


def assert_same_detections(found, expected, atol):
    """Per image, the same detections (label, score and box within `atol`),
    matched one to one: two near-equal scores may come out in either order."""
    for image in range(len(expected["num_detections"])):
        count = int(expected["num_detections"][image])
        assert int(found["num_detections"][image]) == count
        left = list(range(count))
        for k in range(count):
            match = [
                j
                for j in left
                if found["labels"][image][j] == expected["labels"][image][k]
                and abs(found["scores"][image][j] - expected["scores"][image][k])
                <= atol
                and np.abs(found["boxes"][image][j] - expected["boxes"][image][k]).max()
                <= atol
            ]
            assert match, (image, k, expected["boxes"][image][k])
            left.remove(match[0])
