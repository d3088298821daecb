"""What the doctor costs: the whole default diagnosis against training epochs.

The classification recipe's default model and data (VGG width 16 on digits at
32x32, its own shuffled and augmented batches, compiled as the recipe compiles
it), exactly what `python -m recipes.doctor --recipe classify` diagnoses. Each
repeat runs the full diagnosis and then one training epoch of a fresh copy, in
alternating order; the figures are medians over repeats. The
last line is JSON.

    python -m benchmarks.doctor
    python -m benchmarks.doctor --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import keras

from components.analysis import diagnose
from recipes.doctor import recipe_case


def _epoch_seconds():
    model, batches, _ = recipe_case([])
    model.fit(batches.take(1), verbose=0)  # tracing is not an epoch's cost
    start = time.perf_counter()
    model.fit(batches, epochs=1, verbose=0)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.doctor", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    diagnosis_seconds, epoch_seconds = [], []
    for repeat in range(args.repeats):
        steps = ["diagnose", "epoch"] if repeat % 2 == 0 else ["epoch", "diagnose"]
        for step in steps:
            if step == "epoch":
                epoch_seconds.append(_epoch_seconds())
                continue
            model, batches, _ = recipe_case([])
            start = time.perf_counter()
            diagnosis = diagnose(model, batches, verbose=0)
            diagnosis_seconds.append(time.perf_counter() - start)
            failed = [f.check for f in diagnosis.failed]
        print(
            f"repeat {repeat + 1}/{args.repeats}: diagnosis "
            f"{diagnosis_seconds[-1]:.1f} s, epoch {epoch_seconds[-1]:.1f} s, "
            f"failed {failed or 'none'}",
            flush=True,
        )
    keras.backend.clear_session()
    result = {
        "diagnosis_seconds": round(statistics.median(diagnosis_seconds), 1),
        "epoch_seconds": round(statistics.median(epoch_seconds), 2),
        "diagnosis_in_epochs": round(
            statistics.median(diagnosis_seconds) / statistics.median(epoch_seconds), 1
        ),
        "spread_seconds": [
            round(min(diagnosis_seconds), 1),
            round(max(diagnosis_seconds), 1),
        ],
        "repeats": args.repeats,
        "failed": failed,
    }
    print(
        f"default diagnosis: {result['diagnosis_seconds']} s (median of "
        f"{args.repeats}; {result['spread_seconds'][0]}-{result['spread_seconds'][1]} s), "
        f"{result['diagnosis_in_epochs']} training epochs of {result['epoch_seconds']} s"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
