"""The notes' checklist as a doctor for any Keras model: `diagnose`.

Each check has a fixed ID, so reports stay comparable:

| ID | what it measures |
| --- | --- |
| `shuffled` | labels in the order the model sees them |
| `input_scale` | per-channel mean / std reaching the first trainable layer |
| `initial_loss` | the loss at init against its chance value (log C, C - 1) |
| `activation_scale` | per-layer activation std at init through depth |
| `gradient_flow` | per-layer gradient size at init, first against last |
| `saturation` | sigmoid / tanh outputs at their rails |
| `dead_units` | ReLU units never active, at init and after a short run |
| `gradient_check` | numerical against analytic gradients of non-Keras layers |
| `overfit_subset` | a copy without regularization fits a few dozen examples |
| `input_independent` | the model beats itself trained on zeroed inputs |
| `learning_rate` | a range test's suggested rate against the configured one |
| `update_ratio` | median update / weight norm over a few steps (~1e-3) |
| `architecture` | static advice: batch norm, dropout, init, 3x3, all-conv |
"""

from __future__ import annotations

import time

import keras

from components.analysis.doctor import architecture as _architecture
from components.analysis.doctor import data_checks, init_checks, training_checks
from components.analysis.doctor.context import Context
from components.analysis.doctor.diagnosis import Diagnosis, Finding
from components.analysis.doctor.pictures import (
    draw_activations,
    draw_gradients,
    draw_sweep,
)
from components.checks import invalid_value

CHECKS = {
    "shuffled": data_checks.shuffled,
    "input_scale": data_checks.input_scale,
    "initial_loss": init_checks.initial_loss,
    "activation_scale": init_checks.activation_scale,
    "gradient_flow": init_checks.gradient_flow,
    "saturation": init_checks.saturation,
    "dead_units": init_checks.dead_units,
    "gradient_check": init_checks.gradient_check,
    "overfit_subset": training_checks.overfit_subset,
    "input_independent": training_checks.input_independent,
    "learning_rate": training_checks.learning_rate,
    "update_ratio": training_checks.update_ratio,
    "architecture": _architecture.architecture,
}


def _check_names(checks):
    if checks is None:
        return list(CHECKS)
    checks = [checks] if isinstance(checks, str) else list(checks)
    unknown = [c for c in checks if c not in CHECKS]
    if unknown or not checks:
        raise ValueError(
            invalid_value("checks", checks, f"IDs among {', '.join(CHECKS)}")
        )
    return [c for c in CHECKS if c in checks]


def _state(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.variables]


def diagnose(
    model,
    data,
    *,
    loss=None,
    optimizer=None,
    checks=None,
    seed=0,
    state="auto",
    verbose=1,
):
    """Runs the notes' checklist on a model and its data.

    The model is left exactly as it was (weights, optimizer state, compile
    settings): checks that train work on copies. A fault that keeps a network
    from learning is a `fail`, one that slows it or costs accuracy a `warn`.
    Every check that uses a part of the data draws it at random with `seed`
    (stratified by class), so the order of the data changes no verdict but
    `shuffled`'s, whose subject it is.

    A trained model is not at initialization: the checks of the
    initialization (`initial_loss`, `activation_scale`, `gradient_flow`)
    then report what they measure without a verdict (`"info"`), and
    `learning_rate` judges only whether the configured rate blows the loss
    up; the rest judge what still matters.

    Args:
        model: A built functional or Sequential `keras.Model`. A compiled one
            brings its loss and optimizer.
        data: A `tf.data.Dataset` of `(x, y)` batches (in the order training
            would see them) or a tuple `(x, y)` of arrays.
        loss: The loss for an uncompiled model (name, function or `Loss`);
            overrides the compiled one when given.
        optimizer: The optimizer whose rate is checked (default: the model's,
            else Adam at 1e-3).
        checks: IDs to run (default: all, see the module docstring).
        seed: Integer. Seeds the copies and the sampling.
        state: `"auto"` (a classifier at least halfway from chance to 100%
            accuracy on the data, its loss at most half the loss at chance,
            is trained), `"fresh"` or `"trained"`.
        verbose: 0 (silent) or 1 (a progress bar over the checks).

    Returns:
        A `Diagnosis`.

    Example:

    >>> import keras, numpy as np
    >>> x = np.random.default_rng(0).normal(size=(128, 4)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> diagnosis = diagnose(model, (x, y), verbose=0, checks=["initial_loss"],
    ...     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> diagnosis["initial_loss"].status in ("pass", "warn")
    True
    """
    names = _check_names(checks)
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(invalid_value("model", model, "a built keras.Model"))
    compiled = getattr(model, "compiled", False)
    loss = (
        loss
        if loss is not None
        else (getattr(model, "loss", None) if compiled else None)
    )
    if loss is None:
        raise ValueError(
            "diagnose needs a loss: compile the model or pass `loss=` (for example "
            "'sparse_categorical_crossentropy')."
        )
    if optimizer is None:
        optimizer = model.optimizer if compiled and model.optimizer else None
    optimizer = optimizer or keras.optimizers.Adam(1e-3)
    before = _state(model)
    optimizer_before = _state(model.optimizer) if compiled and model.optimizer else None
    start = time.perf_counter()
    context = Context(model, data, loss, optimizer, seed, state)
    findings = []
    progress = keras.utils.Progbar(len(names), unit_name="check") if verbose else None
    for name in names:
        findings.append(CHECKS[name](context))
        if progress:
            progress.add(1)
    _restore(model, before, optimizer_before)
    pictures = _pictures(context, findings, optimizer)
    seconds = round(time.perf_counter() - start, 1)
    return Diagnosis(findings, model.name, pictures, seconds, context.state)


def _restore(model, before, optimizer_before):
    """Puts back any variable a check's pass changed (none should: checked)."""
    for variable, value in zip(model.variables, before):
        variable.assign(value)
    if optimizer_before is not None:
        for variable, value in zip(model.optimizer.variables, optimizer_before):
            variable.assign(value)


def _pictures(context, findings, optimizer):
    pictures = {}
    checks = {f.check for f in findings if f.status != "skip"}
    if "activation_scale" in checks or "saturation" in checks:
        outputs = [(n, o) for n, _, o in init_checks.hidden_outputs(context)]
        pictures["activations.png"] = lambda path: draw_activations(outputs, path)
    if "gradient_flow" in checks:
        rms = next(f for f in findings if f.check == "gradient_flow").details["rms"]
        pictures["gradients.png"] = lambda path: draw_gradients(rms, path)
    sweep = context.pictures.get("lr_finder.png")
    if sweep is not None:
        configured = training_checks.configured_rate(optimizer)
        pictures["lr_finder.png"] = lambda path: draw_sweep(sweep, configured, path)
    return pictures


__all__ = ["CHECKS", "Diagnosis", "Finding", "diagnose"]
