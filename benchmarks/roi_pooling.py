"""RoI pooling, forward and backward: this tree's layer against a reference revision's.

The layer is timed at the shapes of the rcnn recipe's training step (a batch of
8 shared maps of 14 x 14 x 128, stride 8, a 4 x 4 grid) and at its default
proposals (16 per image; `--regions`). The reference's `roi_pooling.py` is
read with `git show REV:components/detection/roi_pooling.py` and loaded as a
module of its own, so both layers run in this process, on the same tensors,
taking turns: `--calls` timed calls of each per round, medians over `--repeats`
rounds. Before any timing, both must give the same outputs and the same
gradients (bin for bin: the change is meant to be one of speed only; the
gradients to float32 rounding, as each layer sums a cell's bins in its own order).

    python -m benchmarks.roi_pooling                      # ~1 minute, 2 CPU cores
    python -m benchmarks.roi_pooling --reference 62c1336 --regions 32
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import types

import numpy as np

from benchmarks.cli import docstring_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYER_PATH = "components/detection/roi_pooling.py"
DEFAULT_REFERENCE = "62c1336"  # the last commit with the per-cell gathers


def reference_layer(revision):
    """The `RoIPooling` class of `revision`, loaded from its own source."""
    try:
        source = subprocess.run(
            ["git", "show", f"{revision}:{LAYER_PATH}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except subprocess.CalledProcessError as error:
        raise ValueError(
            f"Invalid value received for argument `reference`: {revision!r} has no "
            f"{LAYER_PATH} in this repository ({error.stderr.strip()})."
        ) from None
    module = types.ModuleType("reference_roi_pooling")
    # Its class registers itself for saving under this tree's name; in this
    # process nothing is saved, so the override does no harm.
    exec(compile(source, f"{revision}:{LAYER_PATH}", "exec"), module.__dict__)
    return module.RoIPooling


def inputs(regions, seed=0):
    """Shared maps and regions shaped like the rcnn recipe's training step."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(8, 14, 14, 128)).astype("float32")
    corner = rng.uniform(0, 100, size=(8, regions, 2))
    size = rng.uniform(8, 60, size=(8, regions, 2))
    rois = np.concatenate([corner, np.minimum(corner + size, 111)], -1)
    return features, rois.astype("float32")


def step(layer, features, rois):
    """A compiled forward and backward pass: the pooled maps and d(sum sq)/d(map)."""
    import tensorflow as tf

    rois = tf.constant(rois)

    @tf.function
    def run(features):
        with tf.GradientTape() as tape:
            tape.watch(features)
            pooled = layer([features, rois])
            loss = tf.reduce_sum(pooled * pooled)
        return pooled, tape.gradient(loss, features)

    return run


def compare(reference, regions, repeats, calls):
    import tensorflow as tf

    from components.detection.roi_pooling import RoIPooling

    features, rois = inputs(regions)
    features = tf.constant(features)
    layers = {
        "reference": reference_layer(reference)(4, 1 / 8),
        "new": RoIPooling(4, 1 / 8),
    }
    runs = {name: step(layer, features, rois) for name, layer in layers.items()}
    results = {name: [t.numpy() for t in run(features)] for name, run in runs.items()}
    # Maxima are exact; a cell's gradient sums the bins that picked it, in
    # an order each layer chooses.
    new, ref = results["new"], results["reference"]
    np.testing.assert_array_equal(
        new[0], ref[0], err_msg="the two layers' outputs differ"
    )
    np.testing.assert_allclose(
        new[1], ref[1], rtol=1e-6, err_msg="the two layers' gradients differ"
    )
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            for _ in range(calls):
                run(features)
            times[name].append(1000 * (time.perf_counter() - start) / calls)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "reference": reference,
        "regions": regions,
        "ms": medians,
        "range_ms": {name: (min(v), max(v)) for name, v in times.items()},
        "new_over_reference": medians["new"] / medians["reference"],
    }


def main(argv=None):
    parser = docstring_parser("roi_pooling", __doc__)
    parser.add_argument("--reference", default=DEFAULT_REFERENCE)
    parser.add_argument("--regions", type=int, default=16, help="Regions per image.")
    parser.add_argument("--repeats", type=int, default=7, help="Interleaved rounds.")
    parser.add_argument("--calls", type=int, default=20, help="Timed calls per round.")
    args = parser.parse_args(argv)
    for name in ("regions", "repeats", "calls"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name} must be a positive integer, got {getattr(args, name)}"
            )
    result = compare(args.reference, args.regions, args.repeats, args.calls)
    print("outputs identical, gradients equal to float32 rounding")
    for name in ("reference", "new"):
        low, high = result["range_ms"][name]
        print(f"{name:9}  {result['ms'][name]:7.2f} ms  ({low:.2f}-{high:.2f})")
    print(f"new / reference: {result['new_over_reference']:.2f}x the time")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
