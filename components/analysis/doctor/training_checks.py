"""Checks that train copies of the model for a few steps."""

from __future__ import annotations

import math

import keras
import numpy as np

from components.analysis.doctor.diagnosis import Finding
from components.analysis.lr_finder import find_learning_rate

OVERFIT_EXAMPLES = 32
OVERFIT_STEPS = 200
INDEPENDENT_STEPS = 100


def overfit_subset(context):
    """The notes' first sanity check: "overfit a small subset of data". A copy
    with dropout and weight penalties off, trained by Adam (1e-3) on a few
    dozen examples, must reach ~100% training accuracy."""
    count = min(OVERFIT_EXAMPLES, len(context.x))
    x, y = context.x[:count], context.y[:count]
    model = context.clone(regularize=False, optimizer=keras.optimizers.Adam(1e-3))
    first = context.loss_value(model, x, y)
    reached, steps = 0.0, 0
    for done in range(10, OVERFIT_STEPS + 1, 10):
        for _ in range(10):
            model.train_on_batch(x, y)
        steps = done
        if context.classification:
            reached = context.accuracy(model, x, y)
            if reached == 1.0:
                break
    last = context.loss_value(model, x, y)
    if context.classification:
        value = {"train accuracy": reached, "steps": steps}
        status = "pass" if reached >= 0.99 else "warn" if reached >= 0.9 else "fail"
        expected = (
            f"100% on {count} examples (drawn at random) within {OVERFIT_STEPS} "
            "steps; warn below 99%, fail below 90%"
        )
    else:
        ratio = last / first if first > 0 else 0.0
        value = {"final / first loss": ratio, "steps": steps}
        status = "pass" if ratio < 0.05 else "warn" if ratio < 0.3 else "fail"
        expected = f"loss below 5% of its start on {count} examples; fail above 30%"
    rule = (
        f"train accuracy {reached:.3g} after {steps} steps, below "
        f"{0.9 if status == 'fail' else 0.99}"
        if context.classification
        else f"final / first loss {value['final / first loss']:.3g}, above "
        f"{0.3 if status == 'fail' else 0.05}"
    )
    advice = (
        ""
        if status == "pass"
        else (
            f"Without regularization the model cannot fit {count} examples: a bug in "
            "the model, the loss or the labels (or far too little capacity). Fix this "
            "before any long run."
        )
    )
    return Finding(
        "overfit_subset",
        status,
        value,
        expected,
        advice,
        {"first_loss": first, "final_loss": last},
        rule if status != "pass" else "",
    )


def input_independent(context):
    """Karpathy's input-independent baseline: the model trained on the real
    inputs must beat itself trained on zeroed inputs, on held-out examples
    (each copy trained `INDEPENDENT_STEPS` steps)."""
    held = max(16, min(64, len(context.x) // 4))
    if len(context.x) < 2 * held:
        return Finding("input_independent", "skip", advice="Too few examples.")
    x_test, y_test = context.x[:held], context.y[:held]
    x_train, y_train = context.x[held:], context.y[held:]
    # A fixed number of steps, not epochs: 3 epochs of a pool of 512 were 42
    # steps, too few for a learnable task to show (0.06 margin on separable
    # data); 200 took a VGG a minute. One `fit` over a repeated dataset: no
    # per-epoch overhead.
    losses = {}
    for name, inputs, tested in (
        ("real", x_train, x_test),
        ("zeroed", np.zeros_like(x_train), np.zeros_like(x_test)),
    ):
        model = context.clone(
            regularize=False, optimizer=keras.optimizers.Adam(1e-3), copy_weights=True
        )
        model.fit(
            _repeated(inputs, y_train, context.seed),
            steps_per_epoch=INDEPENDENT_STEPS,
            epochs=1,
            verbose=0,
            shuffle=False,  # the dataset reshuffles itself
        )
        losses[name] = context.loss_value(model, tested, y_test)
    margin = losses["zeroed"] - losses["real"]
    relative = margin / max(abs(losses["zeroed"]), 1e-12)
    status = "pass" if relative > 0.1 else "warn" if relative > 0.02 else "fail"
    advice = (
        ""
        if status == "pass"
        else (
            "The model does about as well without its inputs: it is not using them "
            "(labels unrelated to the inputs, inputs lost in the pipeline, or a model "
            "that ignores them)."
        )
    )
    return Finding(
        "input_independent",
        status,
        {"held-out loss": losses["real"], "with zeroed inputs": losses["zeroed"]},
        "held-out loss at least 10% below the zeroed-input model's (fail below 2%)",
        advice,
        {"relative_margin": relative},
        ""
        if status == "pass"
        else f"held-out loss only {relative:.1%} below the zeroed-input model's, "
        f"under {'2%' if status == 'fail' else '10%'}",
    )


def _repeated(x, y, seed, batch_size=32):
    """`(x, y)` reshuffled every pass, in batches, without end."""
    import tensorflow as tf

    from components.data.pipeline import pipeline_options

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    dataset = dataset.shuffle(len(x), seed=seed).repeat().batch(batch_size)
    # Without tf.data's autotuner, whose wake-ups the end of `fit` waited for.
    return dataset.with_options(pipeline_options())


def configured_rate(optimizer):
    """The optimizer's learning rate (a schedule's first value)."""
    rate = optimizer._learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return float(keras.ops.convert_to_numpy(rate(0)))
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def learning_rate(context):
    """The notes: find the learning rate. A range test on a copy (exponential
    sweep, smoothed loss, stop at divergence): suggested rate against the
    configured one."""
    optimizer = context.optimizer()
    configured = configured_rate(optimizer)
    config = keras.optimizers.serialize(optimizer)
    config["config"]["learning_rate"] = 1e-7
    model = context.clone(optimizer=keras.optimizers.deserialize(config))
    # The sweep reaches past the configured rate, so a rate that diverges shows.
    sweep = find_learning_rate(
        model,
        (context.x, context.y),
        batch_size=min(64, len(context.x)),
        steps=100,
        stop=max(10.0, 10.0 * configured),
    )
    context.pictures["lr_finder.png"] = sweep
    suggested = sweep.suggestion
    if suggested is None:
        return Finding(
            "learning_rate",
            "fail",
            None,
            "a finite loss somewhere in the sweep",
            "The loss was never finite during the sweep: check the loss and data.",
        )
    ratio = configured / suggested
    losses = context.short_run()["losses"]
    diverged = sweep.diverged_at is not None and configured >= sweep.diverged_at
    trained = context.trained
    if trained:
        # Near a minimum the loss is tiny and ten steps move it by multiples
        # of itself; a rate that wrecks the model takes it past chance.
        ceiling = context.chance_loss()
        exploded = not np.all(np.isfinite(losses)) or (
            ceiling is not None and max(losses) > ceiling
        )
        blown = "ten steps at the configured rate took the loss past chance"
    else:
        exploded = not np.all(np.isfinite(losses)) or max(losses) > 10 * losses[0]
        blown = (
            "ten steps at the configured rate blew the loss up (non-finite, or 10x "
            "its start)"
        )
    # A fresh model's loss must fall over ten steps at the configured rate; a
    # trained one sits near a minimum, where ten steps go up as often as down
    # and the range test's suggestion (from that minimum) means nothing.
    rising = not trained and np.mean(losses[-3:]) > losses[0]
    side = "above" if ratio > 1 else "below"
    against = f"{max(ratio, 1 / ratio):.3g}x {side} the suggested {suggested:.3g}"
    rules = [
        (
            "fail",
            diverged,
            f"the sweep diverged at {sweep.diverged_at:.3g}, at or below the "
            f"configured {configured:.3g}"
            if diverged
            else "",
        ),
        ("fail", exploded, blown),
        (
            "fail",
            rising,
            "ten steps at the configured rate end with a higher loss (mean of the "
            "last three) than they began",
        ),
        (
            "fail",
            not trained and ratio > 100,
            f"the configured rate is {against}, more than 100x",
        ),
        (
            "warn",
            not trained and (ratio > 10 or ratio < 0.01),
            f"the configured rate is {against}, outside [0.01x, 10x]",
        ),
    ]
    fired = [(status, rule) for status, when, rule in rules if when]
    status, rule = fired[0] if fired else ("pass", "")
    advice = ""
    if status != "pass":
        advice = (
            f"The configured rate {configured:.3g} is {against}: set the learning "
            "rate near the suggestion."
        )
    expected = (
        "configured rate within [0.01x, 10x] of the suggestion (warn outside, fail "
        "above 100x or at the sweep's divergence); ten steps at it do not blow the "
        "loss up"
    )
    if context.trained:
        expected = (
            "a trained model: the loss stays below chance over ten steps at the "
            "configured rate, which is below where the sweep diverges"
        )
    else:
        expected += " and lower it"
    return Finding(
        "learning_rate",
        status,
        {
            "configured": configured,
            "suggested": suggested,
            "diverged at": "never" if sweep.diverged_at is None else sweep.diverged_at,
        },
        expected,
        advice,
        {
            "rates": sweep.rates,
            "smoothed": sweep.smoothed,
            "burn_in": sweep.burn_in,
            "short_run_losses": losses,
        },
        rule,
    )


def update_ratio(context):
    """The notes: the update / weight ratio "should be somewhere around 1e-3".
    Per layer, the update / weight norm of each of a few steps at the
    configured rate: the median over layers and steps, and the largest step
    (a step that moves the weights by a tenth of their size is unstable, even
    when the steps after it, on dead units, barely move)."""
    run = context.short_run()
    ratios = {name: r for name, r in run["ratios"].items() if r}
    if not ratios:
        return Finding("update_ratio", "skip", advice="No weighted layers.")
    per_step = np.median(np.array(list(ratios.values())), axis=0)
    median, largest = float(np.median(per_step)), float(np.max(per_step))
    if not (math.isfinite(median) and math.isfinite(largest)) or largest > 1e-1:
        status = "fail"
    elif not 1e-4 <= median <= 1e-2:
        status = "warn"
    else:
        status = "pass"
    advice = ""
    if status != "pass":
        lower = status == "fail" or median > 1e-2
        advice = (
            f"Updates are {median:.2g} of the weights per step (the largest step "
            f"{largest:.2g}): {'lower' if lower else 'raise'} the learning rate (the "
            "notes: ~1e-3; much higher and training is unstable, much lower and it "
            "crawls)."
        )
    return Finding(
        "update_ratio",
        status,
        {"median": median, "largest step": largest},
        "median over layers and steps within [1e-4, 1e-2] (the notes: ~1e-3); fail "
        "when a step passes 0.1",
        advice,
        {
            "per_layer": {name: float(np.median(r)) for name, r in ratios.items()},
            "per_step": per_step.tolist(),
            "losses": run["losses"],
        },
        ""
        if status == "pass"
        else f"largest step {largest:.2g} > 0.1"
        if status == "fail"
        else f"median {median:.2g} outside [1e-4, 1e-2]",
    )
