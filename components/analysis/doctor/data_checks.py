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
    in_class_order = excess > 0.5
    if context.arrays:
        # fit(shuffle=True) reshuffles arrays every epoch and the doctor draws
        # its own samples at random: their order reaches neither.
        advice = (
            "The arrays come in class order: fit(shuffle=True) reshuffles them every "
            "epoch and the doctor drew its samples at random, so no harm here; a "
            "tf.data pipeline made from them must shuffle before batching."
            if in_class_order
            else ""
        )
        return Finding(
            "shuffled",
            "pass",
            round(same, 3),
            expected + "; arrays are shuffled by fit(shuffle=True) every epoch",
            advice,
            details,
        )
    if in_class_order:
        status = "fail"
    elif excess > 0.15:
        status = "warn"
    else:
        status = "pass"
    rule = (
        ""
        if status == "pass"
        else f"neighbours share a class {same:.2f} of the time against {chance:.2f} "
        f"at random: {excess:.2f} of the way to sorted, above "
        f"{0.5 if status == 'fail' else 0.15}"
    )
    advice = (
        ""
        if status == "pass"
        else (
            "The batches come in label order: shuffle the dataset every epoch "
            "(dataset.shuffle(buffer, reshuffle_each_iteration=True)) before batching."
        )
    )
    return Finding("shuffled", status, round(same, 3), expected, advice, details, rule)


def _first_weighted_input(context):
    for name, layer, inputs, _ in context.forward():
        if layer.trainable_weights:
            return name, inputs
    return None, None


CONSTANT_STD = 1e-3  # a feature this still carries no signal, and no harm


def input_scale(context):
    """The notes: zero-mean, unit-variance inputs. Per-feature (per-channel)
    mean and std of what reaches the first trainable layer (after any
    normalization layer). A constant feature (a pixel blank in every image)
    is harmless and only counted; the std rules apply to the others."""
    name, values = _first_weighted_input(context)
    if values is None:
        return Finding(
            "input_scale", "skip", advice="The model has no trainable layer."
        )
    flat = values.reshape(-1, values.shape[-1]).astype("float64")
    means, stds = flat.mean(axis=0), flat.std(axis=0)
    varying = np.flatnonzero(stds >= CONSTANT_STD)
    constant = len(stds) - len(varying)
    details = {
        "layer": name,
        "mean": means.tolist(),
        "std": stds.tolist(),
        "constant_features": np.flatnonzero(stds < CONSTANT_STD).tolist(),
    }
    worst = int(np.argmax(np.abs(means)))
    value = {"max |mean|": round(float(abs(means[worst])), 3)}
    if len(varying):
        low = int(varying[np.argmin(stds[varying])])
        high = int(varying[np.argmax(stds[varying])])
        value["std"] = f"{stds[low]:.3g} to {stds[high]:.3g}"
    if constant:
        value["constant features"] = constant
    expected = (
        "per feature |mean| <= 0.5, std in [0.33, 3] (constant features aside); "
        "fail past |mean| 10 or std 30"
    )
    rules = []  # (status, rule), the first that fires decides
    if not len(varying):
        rules.append(("fail", f"every feature is constant (std < {CONSTANT_STD})"))
    else:
        mean_rule = f"feature {worst} has mean {means[worst]:.3g}"
        low_rule = f"feature {low} has std {stds[low]:.3g}"
        high_rule = f"feature {high} has std {stds[high]:.3g}"
        rules += [
            ("fail", abs(means[worst]) > 10, mean_rule + ", |mean| > 10"),
            ("fail", stds[high] > 30, high_rule + " > 30"),
            ("warn", abs(means[worst]) > 0.5, mean_rule + ", |mean| > 0.5"),
            ("warn", stds[low] < 0.33, low_rule + " < 0.33"),
            ("warn", stds[high] > 3, high_rule + " > 3"),
        ]
        rules = [(status, rule) for status, fired, rule in rules if fired]
    status, rule = rules[0] if rules else ("pass", "")
    advice = ""
    if status != "pass":
        advice = (
            f"The input of {name!r} is far from zero mean and unit variance: subtract "
            "the training set's mean and divide by its std (a keras.layers."
            "Normalization adapted on the training data, as the notes say: statistics "
            "from the training split only)."
        )
    elif constant:
        advice = (
            f"{constant} of {len(stds)} features are constant (std < {CONSTANT_STD}): "
            "harmless, they carry no signal."
        )
    return Finding("input_scale", status, value, expected, advice, details, rule)
