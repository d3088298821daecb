"""Training throughput: the project's path against Keras on JAX and torch, and plain PyTorch.

The same networks, trained on the same shapes and batch size:

- `vgg32`, `vgg64`: the classify recipe's VGG (three stages of two 3x3
  conv-bn-ReLU, a 256-unit dense layer, dropout) at widths 32 and 64, on
  32x32x1 images, 10 classes, batch 64;
- `yolo`: the YOLO recipe's network (VGG width 16, stages 1,1,2,2, the grid
  head of two 256-channel 3x3 layers) on its 112x112x1 canvases, batch 64. Its
  loss here is a plain squared error on the 7x7x20 output, the same in every
  path: the network is what is compared, not the loss's bookkeeping.

The paths:

- `project`: Keras on TensorFlow as the recipes train: their `tf.data`
  pipeline (cached, reshuffled every epoch, prefetched; no augmentation, which
  no other path has), their compile settings (Adam, cosine decay,
  `steps_per_execution`) and, for classify, its default monitors;
- `project-eigen`, `project-xla`: the same with TensorFlow's Eigen kernels
  instead of oneDNN's (`TF_ENABLE_ONEDNN_OPTS=0`), or with the training step
  compiled by XLA (`jit_compile=True`): the choices issue 36 measures per
  CPU kind;
- `project-autotune`: the same with tf.data's autotuning model on, as the
  pipelines had it before `components.data.pipeline_options` turned it off
  (an epoch's end waited for the model's next wake-up);
- `keras-jax`, `keras-torch`: the same Keras model and compile settings on
  that backend, fed NumPy arrays (`steps_per_execution` 1 on torch, the only
  value Keras's torch trainer takes);
- `pytorch`: a plain PyTorch loop with the same layers (channels_last, Adam),
  fed tensors already in memory: no framework in between, the bar to clear.

Each path runs in a process of its own (a Keras backend is fixed per process,
and each framework's thread pools then have the machine to themselves), all
started once and warmed up (the first pass holds tracing and compilation);
then the paths take turns, one timed pass each per round, for `--repeats`
rounds. The table gives the median images/s, the range, the ratio to plain
PyTorch, and the fraction of the matmul peak: each process also times a
1024x1024 float32 matmul in its framework, and the best of them is the peak;
a training image costs 6x the forward multiply-adds in FLOPs (forward, and
backward at twice the forward). Paths whose framework is missing are skipped
with the reason; PyTorch comes with `pip install -e ".[bench]"`.

    python -m benchmarks.throughput                        # ~10 minutes, 2 CPU cores
    python -m benchmarks.throughput --models vgg32 --repeats 3
    python -m benchmarks.throughput --paths keras-jax pytorch   # no TensorFlow needed
    python -m benchmarks.throughput --paths project project-eigen project-xla pytorch
    python -m benchmarks.throughput --paths project project-autotune pytorch

The machine (CPU model, its vector extensions, the kernel libraries'
settings) is printed before and after the table and kept in the JSON
(`benchmarks.machine`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from benchmarks import machine
from benchmarks.cli import docstring_parser

MODELS = {
    "vgg32": {"kind": "vgg", "width": 32, "shape": (32, 32, 1), "batch": 64},
    "vgg64": {"kind": "vgg", "width": 64, "shape": (32, 32, 1), "batch": 64},
    "yolo": {"kind": "yolo", "width": 16, "shape": (112, 112, 1), "batch": 64},
}
PATHS = {
    "project": ("tensorflow", "tensorflow"),
    # The project's path with TensorFlow's Eigen kernels instead of oneDNN's,
    # and with XLA compiling the training step (`jit_compile=True`).
    "project-eigen": ("tensorflow", "tensorflow"),
    "project-xla": ("tensorflow", "tensorflow"),
    "project-autotune": ("tensorflow", "tensorflow"),
    "keras-jax": ("jax", "jax"),
    "keras-torch": ("torch", "torch"),
    "pytorch": (None, "torch"),
}
DEFAULT_PATHS = ["project", "keras-jax", "keras-torch", "pytorch"]
CLASSES = 10
VGG_STAGES = (2, 2, 2)
YOLO_STAGES = (1, 1, 2, 2)
YOLO_DEPTH = 5 * 2 + CLASSES  # B = 2 boxes per cell
STEPS_PER_EXECUTION = 8  # the recipes' default (TrainingConfig)
PROTOCOL = "@@ "  # prefix of the workers' answers (libraries print too)


# ---------------------------------------------------------------------------
# Data: the same arrays in every path
# ---------------------------------------------------------------------------


def arrays(spec, count, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((count, *spec["shape"]), dtype=np.float32)
    if spec["kind"] == "vgg":
        y = rng.integers(0, CLASSES, count).astype("int32")
    else:
        y = rng.random((count, 7, 7, YOLO_DEPTH), dtype=np.float32)
    return x, y


# ---------------------------------------------------------------------------
# Keras paths
# ---------------------------------------------------------------------------


def keras_model(spec):
    import keras

    from components import detection, models

    keras.utils.set_random_seed(0)
    if spec["kind"] == "vgg":
        model = models.build("vgg", spec["shape"], CLASSES, width=spec["width"])
        loss = "sparse_categorical_crossentropy"
    else:
        model = detection.build(
            "yolo",
            spec["shape"],
            CLASSES,
            backbone="vgg",
            width=spec["width"],
            stages=YOLO_STAGES,
        )
        loss = "mse"
    return model, loss


def keras_trainer(path, spec, steps, spe):
    """`(one timed pass, its images)` for a Keras path."""
    import keras

    model, loss = keras_model(spec)
    batch = spec["batch"]
    x, y = arrays(spec, steps * batch)
    callbacks = []
    if path.startswith("project"):
        from components import data
        from recipes.run import training

        config = training.TrainingConfig(epochs=100, steps_per_execution=spe)
        training.compile_model(config, model, steps, loss, metrics=())
        if path == "project-xla":
            model.jit_compile = True
        import tensorflow as tf

        pipeline = data.make_pipeline(
            tf.data.Dataset.from_tensor_slices((x, y)),
            batch,
            training=True,
            seed=0,
        )
        if path == "project-autotune":
            options = tf.data.Options()
            options.autotune.enabled = True
            pipeline = pipeline.with_options(options)
        if spec["kind"] == "vgg":  # classify's default monitors
            callbacks = training.training_callbacks(config, x[:64])

        def one_pass():
            model.fit(pipeline, epochs=1, verbose=0, callbacks=callbacks)

    else:
        schedule = keras.optimizers.schedules.CosineDecay(1e-3, 100 * steps)
        model.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss=loss,
            # Keras's torch trainer takes only 1.
            steps_per_execution=1 if path == "keras-torch" else spe,
        )

        def one_pass():
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)

    return one_pass, steps * batch


def keras_matmul_peak():
    import keras
    from keras import ops

    a = ops.convert_to_tensor(np.random.default_rng(0).random((1024, 1024), "float32"))

    def once():
        keras.ops.convert_to_numpy(ops.matmul(a, a)[0, 0])

    return best_flops(once, 2 * 1024**3)


# ---------------------------------------------------------------------------
# Plain PyTorch: the same layers
# ---------------------------------------------------------------------------


def torch_network(spec):
    from torch import nn

    def conv(cin, cout):
        return [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
            nn.ReLU(),
        ]

    def backbone(width, stages):
        layers, cin = [], spec["shape"][-1]
        for stage, count in enumerate(stages):
            cout = min(width * 2**stage, width * 8)
            for _ in range(count):
                layers += conv(cin, cout)
                cin = cout
            layers.append(nn.MaxPool2d(2))
        return layers, cin

    if spec["kind"] == "vgg":
        layers, cin = backbone(spec["width"], VGG_STAGES)
        side = spec["shape"][0] // 2 ** len(VGG_STAGES)
        layers += [
            nn.Flatten(),
            nn.Linear(cin * side * side, 256, bias=False),
            nn.BatchNorm1d(256, eps=1e-3, momentum=0.01),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(256, CLASSES),
        ]
    else:
        layers, cin = backbone(spec["width"], YOLO_STAGES)
        layers += conv(cin, 256) + conv(256, 256) + [nn.Conv2d(256, YOLO_DEPTH, 1)]
    return nn.Sequential(*layers)


def torch_trainer(spec, steps):
    import torch
    from torch import nn

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    fmt = torch.channels_last
    model = torch_network(spec).to(device, memory_format=fmt)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    batch = spec["batch"]
    x, y = arrays(spec, steps * batch)
    x = torch.from_numpy(x).permute(0, 3, 1, 2).to(device)  # NCHW view
    if spec["kind"] == "vgg":
        y = torch.from_numpy(y).long().to(device)
        loss_fn = nn.CrossEntropyLoss()
    else:
        y = torch.from_numpy(y).permute(0, 3, 1, 2).to(device)
        loss_fn = nn.MSELoss()
    model.train()

    def one_pass():
        order = torch.randperm(len(x), device=device)
        for step in range(steps):
            index = order[step * batch : (step + 1) * batch]
            images = x[index].contiguous(memory_format=fmt)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(images), y[index])
            loss.backward()
            optimizer.step()
        loss.item()  # wait for the device

    return one_pass, steps * batch


def torch_matmul_peak():
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.rand(1024, 1024, device=device)

    def once():
        (a @ a)[0, 0].item()

    return best_flops(once, 2 * 1024**3)


def best_flops(once, flops, repeats=10):
    once()
    best = min(_timed(once) for _ in range(repeats))
    return flops / best


def _timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------
# Workers: one process per path, answering "run", "peak" and "quit"
# ---------------------------------------------------------------------------


def worker(path, model_name, steps, spe):
    spec = MODELS[model_name]
    if path == "pytorch":
        one_pass, images = torch_trainer(spec, steps)
        peak = torch_matmul_peak
    else:
        one_pass, images = keras_trainer(path, spec, steps, spe)
        peak = keras_matmul_peak
    one_pass()  # warm-up: tracing, compilation, first allocations
    _answer({"ready": True, "device": device_name(path)})
    for line in sys.stdin:
        command = line.strip()
        if command == "run":
            _answer({"images_per_second": images / _timed(one_pass)})
        elif command == "peak":
            _answer({"flops": peak()})
        elif command == "quit":
            return


def _answer(message):
    print(PROTOCOL + json.dumps(message), flush=True)


def device_name(path):
    if path in ("pytorch", "keras-torch"):
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name()
    elif path == "keras-jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return device.device_kind
    return f"CPU ({os.cpu_count()} cores)"


class Worker:
    """A path's process, driven line by line."""

    def __init__(self, path, model_name, steps, spe):
        backend, _ = PATHS[path]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        if path == "project-eigen":
            env["TF_ENABLE_ONEDNN_OPTS"] = "0"
        if backend:
            env["KERAS_BACKEND"] = backend
        self.path = path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.throughput", "--worker", path]
            + ["--models", model_name, "--steps", str(steps)]
            + ["--steps-per-execution", str(spe)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        self.device = self._read()["device"]

    def ask(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._read()

    def _read(self):
        for line in self.process.stdout:
            if line.startswith(PROTOCOL):
                return json.loads(line[len(PROTOCOL) :])
        raise RuntimeError(
            f"the {self.path} worker died:\n{self.process.stderr.read()[-3000:]}"
        )

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            self.process.wait(timeout=60)


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------


def missing(path):
    """Why `path` cannot run here, or `None`."""
    _, package = PATHS[path]
    if importlib.util.find_spec(package) is None:
        extra = ' (pip install -e ".[bench]")' if package == "torch" else ""
        return f"{package} is not installed{extra}"
    return None


def forward_macs(model_name):
    """Multiply-adds of one image's forward pass, from the Keras model."""
    os.environ.setdefault(
        "KERAS_BACKEND",
        "tensorflow" if importlib.util.find_spec("tensorflow") else "jax",
    )
    from components.analysis import flops

    model, _ = keras_model(MODELS[model_name])
    return flops(model)["total_macs"]


def measure(model_name, paths, repeats, steps, spe):
    workers, skipped = {}, {}
    try:
        for path in paths:
            reason = missing(path)
            if reason:
                skipped[path] = reason
                continue
            print(f"{model_name}: starting {path}", flush=True)
            workers[path] = Worker(path, model_name, steps, spe)
        speeds = {path: [] for path in workers}
        for round_ in range(repeats):
            # Rotate the order each round, so no path always runs first.
            order = list(workers)
            order = order[round_ % len(order) :] + order[: round_ % len(order)]
            for path in order:
                speeds[path].append(workers[path].ask("run")["images_per_second"])
            print(
                f"{model_name} round {round_ + 1}: "
                + ", ".join(f"{p} {speeds[p][-1]:.0f}" for p in workers),
                flush=True,
            )
        peaks = {path: w.ask("peak")["flops"] for path, w in workers.items()}
        devices = {path: w.device for path, w in workers.items()}
    finally:
        for w in workers.values():
            w.close()
    return speeds, peaks, devices, skipped


def summarize(speeds, peaks, macs):
    peak = max(peaks.values())
    medians = {p: statistics.median(v) for p, v in speeds.items()}
    reference = medians.get("pytorch")
    rows = {}
    for path, values in speeds.items():
        rows[path] = {
            "images_per_second": medians[path],
            "min": min(values),
            "max": max(values),
            "vs_pytorch": medians[path] / reference if reference else None,
            "peak_fraction": medians[path] * 6 * macs / peak,
        }
    return {
        "rows": rows,
        "forward_macs": macs,
        "peak_gflops": peak / 1e9,
        "peaks_gflops": {p: f / 1e9 for p, f in peaks.items()},
    }


def format_table(results):
    lines = [
        f"{'model':<7}{'path':<13}{'images/s':>10}{'range':>15}"
        f"{'vs PyTorch':>12}{'of peak':>9}"
    ]
    for model_name, result in results.items():
        for path, row in result["rows"].items():
            ratio = f"{row['vs_pytorch']:.2f}x" if row["vs_pytorch"] else "-"
            lines.append(
                f"{model_name:<7}{path:<13}{row['images_per_second']:>10.0f}"
                f"{row['min']:>8.0f}-{row['max']:<6.0f}{ratio:>12}"
                f"{row['peak_fraction']:>9.1%}"
            )
        lines.append(
            f"{'':<7}matmul peak {result['peak_gflops']:.0f} GFLOP/s (best of "
            + ", ".join(f"{p} {g:.0f}" for p, g in result["peaks_gflops"].items())
            + f"); {result['forward_macs'] / 1e6:.1f}M multiply-adds per image"
        )
    return "\n".join(lines)


def parse_args(argv):
    parser = docstring_parser("throughput", __doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--paths", nargs="+", default=DEFAULT_PATHS, choices=PATHS)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds")
    parser.add_argument("--steps", type=int, default=40, help="batches per pass")
    parser.add_argument(
        "--steps-per-execution",
        type=int,
        default=STEPS_PER_EXECUTION,
        help="Keras paths' batches per compiled call (torch backend: always 1)",
    )
    parser.add_argument("--out", help="Also write the results as JSON here.")
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("repeats", "steps", "steps_per_execution"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name} must be a positive integer, got {getattr(args, name)}"
            )
    # Whole executions only: Keras runs steps_per_execution batches a call.
    spe = args.steps_per_execution
    args.steps = -(-args.steps // spe) * spe
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args.worker, args.models[0], args.steps, args.steps_per_execution)
    results, devices, skipped = {}, {}, {}
    info = machine.describe()
    print(machine.summary_line(info), flush=True)
    for model_name in args.models:
        speeds, peaks, devices, skipped = measure(
            model_name, args.paths, args.repeats, args.steps, args.steps_per_execution
        )
        if not speeds:
            raise SystemExit("No path can run here: " + "; ".join(skipped.values()))
        results[model_name] = summarize(speeds, peaks, forward_macs(model_name))
    print()
    print(format_table(results))
    for path, reason in skipped.items():
        print(f"skipped {path}: {reason}")
    print("devices: " + ", ".join(f"{p} on {d}" for p, d in devices.items()))
    print(machine.summary_line(info))
    output = {
        "results": results,
        "devices": devices,
        "skipped": skipped,
        "machine": info,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(output, f, indent=1)
    print(json.dumps(output))
    return output


if __name__ == "__main__":
    main()
