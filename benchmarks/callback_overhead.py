"""What the notes' monitors cost: epoch time with the monitors on vs none.

The classification recipe's model and data (VGG width 16 on digits at 32x32,
tf.data, steps_per_execution 8). Three identical models are compiled: one
fitted with no callback; one with UpdateRatioMonitor and ActivationMonitor,
the monitors the classify recipe turns on by default; one with those and
MaxNormConstraint, which is a regularizer, not a monitor: it adds a norm and
a clamp of every kernel to each optimizer step, so it is reported apart.
Each repeat runs one `fit` of a few epochs per variant, in rotating order,
and times every epoch but the first of each fit (which holds the once-per-fit
tracing and set-up, the monitors' included): the cost a user pays per epoch
of a long run. The last line is JSON with, per variant, `median_ratio` (the
median over repeats of its median epoch time over the plain model's in the
same repeat), with the quartiles and range of the per-repeat ratios; and
`monitors_direct_ratio`, from the time measured inside the monitors' own
hooks (their whole cost: they add nothing to the compiled step), which does
not rest on the difference of two noisy epoch times.

    python -m benchmarks.callback_overhead
    python -m benchmarks.callback_overhead --repeats 31
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import keras

from components import data, models
from components.callbacks import (
    ActivationMonitor,
    MaxNormConstraint,
    UpdateRatioMonitor,
)


def _model(splits):
    keras.utils.set_random_seed(0)
    model = models.build("vgg", splits.input_shape, splits.num_classes)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=8,
    )
    return model


HOOKS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_epoch_end",
)


def timed_hooks(callback, spent):
    """Wraps `callback`'s hooks so that the seconds spent in them add up in
    `spent[0]`: the monitors' whole cost on the host, measured directly."""
    for hook in HOOKS:
        if getattr(type(callback), hook) is getattr(keras.callbacks.Callback, hook):
            continue  # a no-op it inherits: wrapping it would add a call per batch
        method = getattr(callback, hook)

        def wrapper(*args, _method=method, **kwargs):
            start = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        setattr(callback, hook, wrapper)
    return callback


def _quartiles(values):
    """First and third quartiles (the value itself, twice, for one value)."""
    if len(values) < 2:
        return [values[0], values[0]]
    quartiles = statistics.quantiles(values, n=4)
    return [quartiles[0], quartiles[-1]]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.callback_overhead",
        description=__doc__.split("\n")[0],
    )
    # Fifteen repeats of four-epoch fits per variant: seven repeats gave medians
    # from 1.03 to 1.10 on different runs of the same code.
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per fit")
    # An epoch of the digits is 0.6 s, short enough that the machine's noise
    # swung single ratios from 0.54 to 1.83: each epoch passes the data 4 times.
    parser.add_argument("--passes", type=int, default=4, help="passes per epoch")
    args = parser.parse_args(argv)

    splits = data.load("digits", image_size=32)
    train = data.make_pipeline(splits.train, 64, training=True, seed=0).repeat(
        args.passes
    )
    probe = next(iter(data.make_pipeline(splits.validation, 64)))[0].numpy()
    hook_seconds = [0.0]  # seconds spent inside the monitors' hooks so far
    hook_fractions = []  # per measured epoch: hook seconds / epoch seconds
    variants = {
        "no callbacks": (_model(splits), []),
        "monitors": (
            _model(splits),
            [
                timed_hooks(UpdateRatioMonitor(), hook_seconds),
                timed_hooks(ActivationMonitor(probe), hook_seconds),
            ],
        ),
        "monitors + max-norm": (
            _model(splits),
            [UpdateRatioMonitor(), ActivationMonitor(probe), MaxNormConstraint(10.0)],
        ),
    }
    times = {name: [] for name in variants}
    ratios = {name: [] for name in list(variants)[1:]}
    for repeat in range(args.repeats):
        shift = repeat % len(variants)
        order = list(variants)[shift:] + list(variants)[:shift]
        medians = {}
        for name in order:
            model, callbacks = variants[name]
            epochs, hooks = [], []

            def begin(epoch, logs, epochs=epochs, hooks=hooks):
                epochs.append(time.perf_counter())
                hooks.append(hook_seconds[0])

            def end(epoch, logs, epochs=epochs, hooks=hooks):
                # After the monitors' on_epoch_end: their work is inside.
                epochs.append(time.perf_counter() - epochs.pop())
                hooks.append(hook_seconds[0] - hooks.pop())

            timer = keras.callbacks.LambdaCallback(
                on_epoch_begin=begin, on_epoch_end=end
            )
            model.fit(
                train, epochs=args.epochs, verbose=0, callbacks=[*callbacks, timer]
            )
            measured = epochs[1:]  # the first epoch of a fit traces and sets up
            if name == "monitors":
                hook_fractions += [h / e for h, e in zip(hooks[1:], measured)]
            times[name] += measured
            medians[name] = statistics.median(measured)
        for name in ratios:
            ratios[name].append(medians[name] / medians["no callbacks"])
        print(
            f"repeat {repeat + 1}/{args.repeats}: "
            + ", ".join(f"{k} {v[-1]:.3f}" for k, v in ratios.items()),
            flush=True,
        )

    plain = statistics.median(times["no callbacks"])
    print(f"\n{'variant':<22}{'median epoch s':>16}{'pooled ratio':>14}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<22}{median:>16.3f}{median / plain:>14.3f}")
    result = {
        "median_epoch_seconds": {
            k: round(statistics.median(v), 4) for k, v in times.items()
        },
        "repeats": args.repeats,
        "epochs_per_fit": args.epochs,
        "passes_per_epoch": args.passes,
    }
    # The direct measure: the share of each monitored epoch spent inside the
    # monitors' hooks. It does not subtract two noisy epoch times, so the
    # machine's noise moves it little; 1 / (1 - share) is the slowdown.
    share = statistics.median(hook_fractions)
    result["monitors_hook_share"] = round(share, 4)
    result["monitors_direct_ratio"] = round(1 / (1 - share), 4)
    print(
        f"monitors, measured inside their hooks: {share:.1%} of each epoch "
        f"(ratio {1 / (1 - share):.3f}; quartiles "
        + "-".join(f"{q:.1%}" for q in _quartiles(hook_fractions))
        + ")"
    )
    for name, values in ratios.items():
        quartiles = _quartiles(values)
        result[name] = {
            "median_ratio": round(statistics.median(values), 4),
            "ratio_quartiles": [round(quartiles[0], 4), round(quartiles[-1], 4)],
            "ratio_range": [round(min(values), 4), round(max(values), 4)],
        }
        figures = result[name]
        print(
            f"{name}: median of the per-repeat ratios {figures['median_ratio']:.3f} "
            f"(quartiles {figures['ratio_quartiles'][0]:.3f}-"
            f"{figures['ratio_quartiles'][1]:.3f}, range "
            f"{figures['ratio_range'][0]:.3f}-{figures['ratio_range'][1]:.3f})"
        )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
