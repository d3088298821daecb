"""What the notes' monitors cost: epoch time with every monitor on vs none.

The classification recipe's model and data (VGG width 16 on digits at 32x32,
tf.data, steps_per_execution 8). Two identical models are compiled, one fitted
with UpdateRatioMonitor, ActivationMonitor and MaxNormConstraint, the other
with no callback. Each repeat runs one `fit` of a few epochs per variant, in
alternating order, and times every epoch but the first of each fit (which
holds the once-per-fit tracing and set-up, the monitors' included): the cost a
user pays per epoch of a long run. The last line is JSON with `median_ratio`
(the median over repeats of monitored / plain median epoch time), with the
quartiles and range of the per-repeat ratios.

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


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.callback_overhead",
        description=__doc__.split("\n")[0],
    )
    # Fifteen repeats of six-epoch fits: seven of four gave medians from 1.03 to
    # 1.10 on different runs of the same code.
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=6, help="epochs per fit")
    # An epoch of the digits is 0.6 s, short enough that the machine's noise
    # swung single ratios from 0.54 to 1.83: each epoch passes the data 4 times.
    parser.add_argument("--passes", type=int, default=4, help="passes per epoch")
    args = parser.parse_args(argv)

    splits = data.load("digits", image_size=32)
    train = data.make_pipeline(splits.train, 64, training=True, seed=0).repeat(
        args.passes
    )
    probe = next(iter(data.make_pipeline(splits.validation, 64)))[0].numpy()
    variants = {
        "no callbacks": (_model(splits), []),
        "all monitors": (
            _model(splits),
            [UpdateRatioMonitor(), ActivationMonitor(probe), MaxNormConstraint(10.0)],
        ),
    }
    times = {name: [] for name in variants}
    ratios = []
    for repeat in range(args.repeats):
        order = list(variants) if repeat % 2 == 0 else list(reversed(variants))
        medians = {}
        for name in order:
            model, callbacks = variants[name]
            epochs = []
            timer = keras.callbacks.LambdaCallback(
                on_epoch_begin=lambda epoch, logs, t=epochs: t.append(
                    time.perf_counter()
                ),
                on_epoch_end=lambda epoch, logs, t=epochs: t.append(
                    time.perf_counter() - t.pop()
                ),
            )
            model.fit(
                train, epochs=args.epochs, verbose=0, callbacks=[*callbacks, timer]
            )
            measured = epochs[1:]  # the first epoch of a fit traces and sets up
            times[name] += measured
            medians[name] = statistics.median(measured)
        ratios.append(medians["all monitors"] / medians["no callbacks"])
        print(f"repeat {repeat + 1}/{args.repeats}: ratio {ratios[-1]:.3f}", flush=True)

    plain = statistics.median(times["no callbacks"])
    print(f"\n{'variant':<16}{'median epoch s':>16}{'ratio':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<16}{median:>16.3f}{median / plain:>8.3f}")
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    result = {
        "median_epoch_seconds": {
            k: round(statistics.median(v), 4) for k, v in times.items()
        },
        "median_ratio": round(statistics.median(ratios), 4),
        "ratio_quartiles": [round(quartiles[0], 4), round(quartiles[-1], 4)],
        "ratio_range": [round(min(ratios), 4), round(max(ratios), 4)],
        "repeats": args.repeats,
        "epochs_per_fit": args.epochs,
        "passes_per_epoch": args.passes,
    }
    print(
        f"median of the per-repeat ratios: {result['median_ratio']:.3f} "
        f"(quartiles {result['ratio_quartiles'][0]:.3f}-{result['ratio_quartiles'][1]:.3f}, "
        f"range {result['ratio_range'][0]:.3f}-{result['ratio_range'][1]:.3f})"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
