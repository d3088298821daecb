"""Exports side by side: latency per image and file size against Keras.

Exports one classifier run in every format and quantization that
`recipes.export` writes, then times, in one process and interleaved over
`--repeats` rounds, single-image inference of each export in its runtime
(ONNX Runtime, LiteRT, TensorFlow for the SavedModel) and of the Keras edge
model (`predict_on_batch`, the same uint8 input), each the median of
`--calls` calls per round; the table gives the median over rounds, the
ratio to Keras and the file size. Without `--run`, a classify run is trained
first (`--quick`: the test's small VGG). The last line is JSON.

    python -m benchmarks.export --run runs/photos
    python -m benchmarks.export --quick
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time

from benchmarks.cli import docstring_parser

VARIANTS = (
    ("litert", "none"),
    ("litert", "fp16"),
    ("litert", "int8"),
    ("onnx", "none"),
    ("onnx", "fp16"),
    ("onnx", "int8"),
    ("saved_model", "none"),
)


def median_seconds(run, image, calls):
    run(image)  # warm-up
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = docstring_parser("export", __doc__)
    parser.add_argument("--run", help="A classify run directory (default: train one).")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="A small run, 2 rounds.")
    args = parser.parse_args(argv)
    from components.deploy import edge, runtimes
    from recipes import classify
    from recipes.export import _size, sample_images
    from recipes.run.saved import load_model

    scratch = tempfile.mkdtemp(prefix="export-bench-")
    run_dir = args.run
    if run_dir is None:
        run_dir = os.path.join(scratch, "run")
        flags = ["--verbose", "0", "--no-baseline", "--no-monitors"]
        if args.quick:
            flags += ["--image-size", "16", "--width", "8", "--epochs", "2"]
        classify.main([*flags, "--run-dir", run_dir])
    repeats = 2 if args.quick else args.repeats
    model, _, config = load_model(run_dir)
    edge_model, metadata = edge.edge_model(model)
    (images, _), calibration = sample_images(
        config, None, edge_model.input.shape[1:], 50
    )
    runners = {"keras": lambda x: edge_model.predict_on_batch(x)}
    sizes = {"keras": os.path.getsize(os.path.join(run_dir, "model.keras"))}
    for fmt, quantize in VARIANTS:
        path = edge.export(
            edge_model,
            metadata,
            os.path.join(scratch, f"model_{quantize}"),
            fmt,
            quantize,
            calibration,
        )
        exported = runtimes.load(path)
        runners[f"{fmt} {quantize}"] = exported._run
        sizes[f"{fmt} {quantize}"] = _size(path)
    image = images[:1]
    rounds = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():  # interleaved: a slow spell hits all
            rounds[name].append(median_seconds(run, image, args.calls))
    keras_ms = statistics.median(rounds["keras"]) * 1000
    rows = []
    print(f"\n{'model':18} {'ms/image':>9} {'x Keras':>8} {'file MB':>8}")
    for name, times in rounds.items():
        ms = statistics.median(times) * 1000
        rows.append(
            {
                "model": name,
                "ms_per_image": round(ms, 4),
                "ratio_to_keras": round(ms / keras_ms, 3),
                "bytes": sizes[name],
            }
        )
        print(f"{name:18} {ms:>9.3f} {ms / keras_ms:>8.3f} {sizes[name] / 2**20:>8.2f}")
    result = {"run": run_dir, "repeats": repeats, "calls": args.calls, "rows": rows}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
