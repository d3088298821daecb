"""Checks of the model at initialization: loss, activations, gradients."""

from __future__ import annotations

import math
import warnings

import numpy as np

from components.analysis.activations import activation_kind, activation_statistics
from components.analysis.doctor.context import chance_loss_and_formula, kernels
from components.analysis.doctor.diagnosis import Finding
from components.analysis.gradient_check import layer_gradient_check
from components.analysis.model_graph import layer_probe


def initial_loss(context):
    """The notes: "look for correct loss at chance performance": log(C) for
    softmax cross-entropy, C - 1 for the multiclass SVM at small weights."""
    expected, formula = chance_loss_and_formula(context)
    if expected is None:
        return Finding(
            "initial_loss",
            "skip",
            advice=f"No chance-level value is known for this loss ({formula}).",
        )
    x, y = context.batch(256)
    value = context.loss_value(context.model, x, y)
    ratio = value / expected
    if context.trained:
        return Finding(
            "initial_loss",
            "info",
            round(value, 4),
            f"at initialization about {formula}; a trained model is past it",
            f"A trained model: its loss is {ratio:.2g}x the chance value.",
            {"ratio": ratio},
        )
    if not math.isfinite(value) or ratio > 3 or ratio < 1 / 3:
        status, bounds = "fail", "outside [1/3, 3]"
    elif not 0.8 <= ratio <= 1.25:
        status, bounds = "warn", "outside [0.8, 1.25]"
    else:
        status, bounds = "pass", ""
    rule = f"loss {value:.3g} is {ratio:.2g}x the chance value, {bounds}"
    advice = (
        ""
        if status == "pass"
        else (
            f"The loss at initialization is {ratio:.2g}x the chance value: the output "
            "layer's initial scores are too large (or the loss does not match the "
            "output: logits vs probabilities). Initialize the last layer small, "
            "check from_logits."
        )
    )
    return Finding(
        "initial_loss",
        status,
        round(value, 4),
        f"about {formula} (0.8x-1.25x passes; fail outside 1/3x-3x)",
        advice,
        {"ratio": ratio},
        rule if status != "pass" else "",
    )


def hidden_outputs(context):
    """Outputs of the hidden weighted / activation layers at init (the model's
    last layer, its scores, left out)."""
    found = [
        (name, layer, out)
        for name, layer, _, out in context.forward()
        if layer.trainable_weights or activation_kind(layer)
    ]
    return found[:-1] if len(found) > 1 else found


def activation_scale(context):
    """CS231n's initialization figures: per-layer activation std at init should
    neither shrink to zero nor grow through depth."""
    found = hidden_outputs(context)
    if len(found) < 2:
        return Finding(
            "activation_scale", "skip", advice="Fewer than two hidden layers."
        )
    stds = {name: float(np.std(out)) for name, _, out in found}
    values = list(stds.values())
    first, last = values[0], values[-1]
    ratio = last / first if first > 0 else 0.0
    zero = [name for name, v in stds.items() if v == 0.0]
    value = {"first": first, "last": last, "ratio": ratio}
    expected = "last / first hidden std within [0.1, 10] (fail outside [1e-3, 1e3]), none all zero"
    if context.trained:
        return Finding(
            "activation_scale",
            "info",
            value,
            "at initialization: " + expected,
            "",
            {"std": stds},
        )
    if zero or ratio < 1e-3 or ratio > 1e3:
        status = "fail"
    elif ratio < 0.1 or ratio > 10:
        status = "warn"
    else:
        status = "pass"
    rule = (
        f"layers {', '.join(zero[:3])} output only zeros"
        if zero
        else f"last / first hidden std {ratio:.2g} ({last:.3g} / {first:.3g}) is "
        f"outside [{'1e-3, 1e3' if status == 'fail' else '0.1, 10'}]"
    )
    if zero:
        advice = f"Layers output only zeros at init: {', '.join(zero[:3])}."
    elif status == "pass":
        advice = ""
    else:
        trend = "vanish" if ratio < 1 else "explode"
        advice = (
            f"Activations {trend} with depth (last / first std {ratio:.2g}): "
            "initialize with the variance calibrated to the fan-in "
            "(He for ReLU, Glorot for tanh), or add batch normalization."
        )
    return Finding(
        "activation_scale",
        status,
        value,
        expected,
        advice,
        {"std": stds},
        rule if status != "pass" else "",
    )


def gradient_flow(context):
    """Per-layer gradient size at init: the first layers must get a signal
    comparable to the last ones'."""
    found = kernels(context.gradients())
    if len(found) < 2:
        return Finding(
            "gradient_flow", "skip", advice="Fewer than two weighted layers."
        )
    rms = {}
    for name, _, _, grad in found:
        rms.setdefault(name, float(np.sqrt(np.mean(np.square(grad)))))
    values = list(rms.values())
    first, last = values[0], values[-1]
    if not all(math.isfinite(v) for v in values):
        return Finding(
            "gradient_flow",
            "fail",
            None,
            "finite gradients",
            "Gradients are NaN or infinite at init: check the loss and the inputs.",
            {"rms": rms},
        )
    ratio = first / last if last > 0 else (math.inf if first > 0 else 0.0)
    zero = [name for name, v in rms.items() if v == 0.0]
    expected = (
        "first / last layer RMS gradient within [0.01, 100] (fail outside "
        "[1e-3, 1e3]), none zero"
    )
    if context.trained:
        return Finding(
            "gradient_flow",
            "info",
            {"first / last": ratio},
            "at initialization: " + expected,
            "",
            {"rms": rms},
        )
    if zero or ratio < 1e-3 or ratio > 1e3:
        status = "fail"
    elif ratio < 1e-2 or ratio > 1e2:
        status = "warn"
    else:
        status = "pass"
    if zero:
        advice = (
            f"No gradient reaches {', '.join(zero[:3])} at init (zero weights or "
            "dead units upstream): initialize the weights randomly, never to zero."
        )
    elif status == "pass":
        advice = ""
    else:
        advice = (
            f"The first layer's gradient is {ratio:.2g}x the last one's: gradients "
            + ("vanish" if ratio < 1 else "explode")
            + " through depth. Use He / Glorot initialization, batch norm, ReLU."
        )
    rule = (
        f"no gradient reaches {', '.join(zero[:3])}"
        if zero
        else f"first / last layer RMS gradient {ratio:.2g} is outside "
        f"[{'1e-3, 1e3' if status == 'fail' else '0.01, 100'}]"
    )
    return Finding(
        "gradient_flow",
        status,
        {"first / last": ratio},
        expected,
        advice,
        {"rms": rms},
        rule if status != "pass" else "",
    )


def saturation(context):
    """The notes: "sigmoids saturate and kill gradients". Share of sigmoid /
    tanh outputs at their rails (below 1% of their peak gradient)."""
    found = [
        (name, activation_kind(layer), out)
        for name, layer, _, out in context.forward()
        if activation_kind(layer) in ("sigmoid", "tanh")
    ]
    if not found:
        return Finding("saturation", "skip", advice="No sigmoid or tanh layers.")
    shares = {name: activation_statistics(kind, out) for name, kind, out in found}
    worst_name = max(shares, key=shares.get)
    worst = shares[worst_name]
    status = "fail" if worst > 0.5 else "warn" if worst > 0.1 else "pass"
    advice = (
        ""
        if status == "pass"
        else (
            f"{worst:.0%} of the outputs of layer {worst_name} sit at the rails: scale "
            "the initialization down (Glorot), normalize the inputs, or use ReLU."
        )
    )
    return Finding(
        "saturation",
        status,
        round(worst, 4),
        "at most 10% of any sigmoid / tanh layer's outputs saturated (fail above 50%)",
        advice,
        {"saturated": shares},
        ""
        if status == "pass"
        else f"{worst:.0%} of layer {worst_name}'s outputs saturated, above "
        f"{'50%' if status == 'fail' else '10%'}",
    )


def _dead(context, model):
    x, _ = context.batch(256)
    found = layer_probe(model, lambda layer: activation_kind(layer) == "relu")(x)
    return {name: activation_statistics("relu", out) for name, _, _, out in found}


def dead_units(context):
    """The notes: "ReLU units can irreversibly die". Units that never fire on
    a batch, at init and after a short run at the configured rate."""
    at_init = _dead(context, context.model)
    if not at_init:
        return Finding("dead_units", "skip", advice="No ReLU layers.")
    trained = context.short_run()["model"]
    after = _dead(context, trained)
    worst_init = max(at_init.values())
    worst_after = max(after.values())
    worst = max(worst_init, worst_after)
    now = "as given" if context.trained else "at init"
    status = "fail" if worst >= 0.5 else "warn" if worst > 0.1 else "pass"
    where = max(
        after if worst_after >= worst_init else at_init,
        key=(after if worst_after >= worst_init else at_init).get,
    )
    advice = (
        ""
        if status == "pass"
        else (
            f"{worst:.0%} of the units of layer {where} never fire on a batch "
            f"({'after a short run' if worst_after > worst_init else now}): "
            "lower the learning rate, check the biases (a large negative bias kills "
            "them), or use leaky ReLU / PReLU."
        )
    )
    return Finding(
        "dead_units",
        status,
        {now: worst_init, "after a short run": worst_after},
        "at most 10% of any ReLU layer's units dead (fail from 50%)",
        advice,
        {"at_init": at_init, "after_short_run": after},
        ""
        if status == "pass"
        else f"{worst:.0%} of layer {where}'s units dead, "
        f"{'at least 50%' if status == 'fail' else 'above 10%'}",
    )


def _is_custom(layer):
    module = type(layer).__module__
    return not (module.startswith("keras.") or module.startswith("tf_keras."))


def _float64_copy(layer, inputs):
    copy = type(layer).from_config({**layer.get_config(), "dtype": "float64"})
    copy(inputs)
    copy.set_weights([np.asarray(w, "float64") for w in layer.get_weights()])
    return copy


def gradient_check(context):
    """The notes' gradient check, on each layer that is not Keras's own: its
    analytic gradient against centred differences, in float64 where the
    backend computes it (TensorFlow)."""
    custom = [
        (name, layer, inputs)
        for name, layer, inputs, _ in context.forward()
        if _is_custom(layer) and not isinstance(inputs, (list, tuple))
    ]
    if not custom:
        return Finding(
            "gradient_check", "skip", advice="No layers other than Keras's own."
        )
    errors, failed = {}, []
    for name, layer, inputs in custom:
        x = np.asarray(inputs[:2], "float64")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # float32 on JAX: the check says so
            try:
                result = layer_gradient_check(_float64_copy(layer, x), x)
            except (TypeError, ValueError):  # cannot be rebuilt in float64
                result = layer_gradient_check(layer, np.asarray(inputs[:2]))
        errors[name] = result.max_relative_error
        if not result.passed:
            failed.append(name)
    worst = max(errors.values())
    status = "fail" if failed else "pass"
    advice = (
        ""
        if not failed
        else (
            f"The analytic gradient of {', '.join(failed)} disagrees with the numerical "
            "one: its backward pass is wrong."
        )
    )
    return Finding(
        "gradient_check",
        status,
        {"max relative error": worst},
        "relative error below the threshold (1e-6 in float64, 1e-2 in float32)",
        advice,
        {"relative_error": errors},
        f"relative error of {', '.join(failed)} above the threshold" if failed else "",
    )
