"""Checks of the data as the model receives it: order and scale."""

from __future__ import annotations

import numpy as np

from components.analysis.doctor.diagnosis import Finding


def shuffled(context):
    """The notes: "always shuffle". Labels in the order the model sees them:
    the chance that two neighbours share a class, against that of a random
    order (the sum of squared class frequencies)."""
    if not context.classification:
        return Finding("shuffled", "skip", advice="Labels are not class indices.")
    labels = context.labels(context.order)
    if len(labels) < 2:
        return Finding("shuffled", "skip", advice="Fewer than two examples.")
    same = float(np.mean(labels[1:] == labels[:-1]))
    shares = np.bincount(labels) / len(labels)
    chance = float(np.sum(shares**2))
    excess = (same - chance) / max(1.0 - chance, 1e-9)
    expected = f"neighbours of one class about {chance:.2f} of the time (random order)"
    details = {"same_class_neighbours": same, "random_order": chance}
    if context.arrays:
        return Finding(
            "shuffled",
            "pass",
            round(same, 3),
            expected + "; arrays are shuffled by fit(shuffle=True) every epoch",
            details=details,
        )
    if excess > 0.5:
        status = "fail"
    elif excess > 0.15:
        status = "warn"
    else:
        status = "pass"
    advice = (
        ""
        if status == "pass"
        else (
            "The batches come in label order: shuffle the dataset every epoch "
            "(dataset.shuffle(buffer, reshuffle_each_iteration=True)) before batching."
        )
    )
    return Finding("shuffled", status, round(same, 3), expected, advice, details)


def _first_weighted_input(context):
    for name, layer, inputs, _ in context.forward():
        if layer.trainable_weights:
            return name, inputs
    return None, None


def input_scale(context):
    """The notes: zero-mean, unit-variance inputs. Per-channel mean and std of
    what reaches the first trainable layer (after any normalization layer)."""
    name, values = _first_weighted_input(context)
    if values is None:
        return Finding(
            "input_scale", "skip", advice="The model has no trainable layer."
        )
    flat = values.reshape(-1, values.shape[-1]).astype("float64")
    means, stds = flat.mean(axis=0), flat.std(axis=0)
    worst_mean = float(np.abs(means).max())
    details = {"layer": name, "mean": means.tolist(), "std": stds.tolist()}
    value = {
        "max |mean|": round(worst_mean, 3),
        "std": round(float(np.median(stds)), 3),
    }
    expected = "per channel |mean| <= 0.5 and std in [0.33, 3]"
    if worst_mean > 10 or stds.max() > 30 or stds.min() < 1e-3:
        status = "fail"
    elif worst_mean > 0.5 or stds.min() < 0.33 or stds.max() > 3:
        status = "warn"
    else:
        status = "pass"
    advice = (
        ""
        if status == "pass"
        else (
            f"The input of {name!r} is far from zero mean and unit variance: subtract "
            "the training set's mean and divide by its std (a keras.layers."
            "Normalization adapted on the training data, as the notes say: statistics "
            "from the training split only)."
        )
    )
    return Finding("input_scale", status, value, expected, advice, details)
