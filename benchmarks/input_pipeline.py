"""How to feed Keras: NumPy arrays vs a tf.data pipeline, and steps_per_execution.

The classification recipe's model (VGG, width 16, digits at 32x32) trains one
epoch per measurement. Variants are interleaved (every repeat runs each
variant once, in turn), after one warm-up epoch each, so that drift in machine
load hits all of them alike; the table shows medians and ratios to the first.

    python -m benchmarks.input_pipeline
    python -m benchmarks.input_pipeline --repeats 7 --batch-size 128
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import keras

from components import data, models


def _model(splits, steps_per_execution):
    keras.utils.set_random_seed(0)
    model = models.build("vgg", splits.input_shape, splits.num_classes, width=16)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.input_pipeline", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args(argv)

    splits = data.load("digits", image_size=args.image_size)
    x, y = splits.as_numpy("train")
    pipeline = data.make_pipeline(splits.train, args.batch_size, training=True, seed=0)
    variants = {
        "numpy arrays, spe=1": (
            lambda m: m.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0),
            1,
        ),
        "tf.data, spe=1": (lambda m: m.fit(pipeline, epochs=1, verbose=0), 1),
        "tf.data, spe=4": (lambda m: m.fit(pipeline, epochs=1, verbose=0), 4),
        "tf.data, spe=8": (lambda m: m.fit(pipeline, epochs=1, verbose=0), 8),
        "tf.data, spe=16": (lambda m: m.fit(pipeline, epochs=1, verbose=0), 16),
    }
    compiled = {}
    for name, (fit, spe) in variants.items():
        compiled[name] = _model(splits, spe)
        fit(compiled[name])  # warm-up: tracing and compilation
    rates = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for name, (fit, _) in variants.items():
            start = time.perf_counter()
            fit(compiled[name])
            rates[name].append(len(x) / (time.perf_counter() - start))
        print(f"repeat {repeat + 1}/{args.repeats} done", flush=True)

    base = statistics.median(rates["numpy arrays, spe=1"])
    print(f"\n{'variant':<22}{'median images/s':>17}{'ratio':>8}")
    figures = {}
    for name, values in rates.items():
        median = statistics.median(values)
        figures[name] = round(median, 1)
        print(f"{name:<22}{median:>17.1f}{median / base:>8.2f}")
    best = max(figures, key=figures.get)
    print(f"fastest: {best}")
    print(
        json.dumps(
            {
                "median_images_per_second": figures,
                "fastest": best,
                "batch_size": args.batch_size,
                "image_size": args.image_size,
                "repeats": args.repeats,
            }
        )
    )
    return figures


if __name__ == "__main__":
    main()
