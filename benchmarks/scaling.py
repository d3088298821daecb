"""Scale out: one process against two on the same global batch, for both strategies.

The classification recipe (VGG width 16 on digits at 32x32, global batch 64,
the recipe's augmentation and monitors on) runs as one process and as two
(`recipes.launch --workers 2`), under TensorFlow's `multiworker` and under
JAX's `data-parallel` (`keras.distribution`). The one-process run of each is
the command a user runs alone (`--strategy default`, on the same backend).
Every configuration trains twice, 1 epoch and 1 + `--epochs`, and the steady
rate is the extra epochs' images over the extra training seconds, so start-up
and compilation cancel out. Repeats are interleaved (every repeat runs each
configuration in turn); the table gives medians, ranges and each two-process
rate over its one-process rate.

On one machine the processes share its cores, so the ratio says what the
processes' coordination costs, not what a second machine would add. The
"threads split" rows give each of the two processes `cores / 2` threads
(TensorFlow's and XLA's intra-op pools) instead of letting both use every
core.

    python -m benchmarks.scaling
    python -m benchmarks.scaling --repeats 5 --epochs 6
    python -m benchmarks.scaling --strategies data-parallel --quick
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

from benchmarks.cli import docstring_parser
from benchmarks.machine import describe, summary_line

BATCH = 64
WORKLOAD = [
    "--model", "vgg", "--width", "16", "--image-size", "32",
    "--batch-size", str(BATCH),
    "--no-doctor", "--no-baseline", "--verbose", "0", "--overwrite",
]  # fmt: skip
BACKENDS = {"multiworker": "tensorflow", "data-parallel": "jax"}


def configurations(strategies, cores=None):
    """`(label, backend, processes, strategy flag, extra environment)` of every
    configuration measured, the one-process run of each strategy first."""
    cores = cores or os.cpu_count() or 1
    split = max(1, cores // 2)
    threads = {
        "TF_NUM_INTRAOP_THREADS": str(split),
        "TF_NUM_INTEROP_THREADS": str(split),
    }
    if split == 1:  # XLA's CPU pool has no size setting, only on or off
        flags = os.environ.get("XLA_FLAGS", "")
        threads["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    rows = []
    for strategy in strategies:
        backend = BACKENDS[strategy]
        rows += [
            (f"{strategy}: one process", backend, 1, "default", {}),
            (f"{strategy}: two processes", backend, 2, strategy, {}),
            (f"{strategy}: two, threads split", backend, 2, strategy, threads),
        ]
    return rows


def command(processes, strategy, epochs, run_dir, log_dir):
    """The argv of one training run (through `recipes.launch` for several)."""
    recipe = [sys.executable, "-m", "recipes.classify", *WORKLOAD]
    recipe += ["--strategy", strategy, "--epochs", str(epochs), "--run-dir", run_dir]
    if processes == 1:
        return recipe
    launch = [sys.executable, "-m", "recipes.launch", "--workers", str(processes)]
    return [*launch, "--log-dir", log_dir, "--", *recipe]


def images_per_epoch(examples, batch_size, strategy):
    """Images one epoch trains on: every example, except that `data-parallel`
    feeds whole global batches only (a partial batch would leave a process
    without rows)."""
    if strategy == "data-parallel":
        return examples // batch_size * batch_size
    return examples


def steady_rate(images, extra_epochs, short_seconds, long_seconds):
    """Images per second of the epochs the long run trained beyond the short."""
    if long_seconds <= short_seconds:
        raise ValueError(
            f"the {extra_epochs} extra epochs took no time ({short_seconds} s then "
            f"{long_seconds} s): train longer (--epochs)"
        )
    return images * extra_epochs / (long_seconds - short_seconds)


def train(argv, backend, extra_env, run_dir):
    """Runs one configuration; returns its `metrics.json`."""
    env = {**os.environ, "KERAS_BACKEND": backend, **extra_env}
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-8:])
        raise SystemExit(f"benchmarks.scaling: {' '.join(argv)} failed:\n{tail}")
    with open(os.path.join(run_dir, "metrics.json")) as f:
        return json.load(f)


def measure(config, epochs, workdir):
    """One steady images/s figure of `config`."""
    label, backend, processes, strategy, extra_env = config
    seconds, examples = [], None
    for count in (1, 1 + epochs):
        run_dir = os.path.join(workdir, f"run{count}")
        argv = command(
            processes, strategy, count, run_dir, os.path.join(workdir, "logs")
        )
        metrics = train(argv, backend, extra_env, run_dir)
        seconds.append(metrics["train_seconds"])
        examples = metrics["train_examples"]
    images = images_per_epoch(examples, BATCH, strategy)
    return steady_rate(images, epochs, *seconds)


def ratios(configs, rates):
    """Each configuration's median images/s over its strategy's one process."""
    one = {}
    found = {}
    for label, _, processes, _, _ in configs:
        median = statistics.median(rates[label])
        key = label.split(":")[0]
        if processes == 1:
            one[key] = median
        found[label] = median / one[key] if key in one else float("nan")
    return found


def table(configs, rates, relative):
    lines = [
        "| configuration | backend | images/s (median, range) | two / one |",
        "| --- | --- | --- | --- |",
    ]
    for label, backend, _, _, _ in configs:
        values = rates[label]
        spread = f"{min(values):.0f}-{max(values):.0f}"
        lines.append(
            f"| {label} | {backend} | {statistics.median(values):.0f} ({spread}) "
            f"| {relative[label]:.2f}x |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = docstring_parser("scaling", __doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--epochs", type=int, default=4, help="Epochs beyond the first per figure."
    )
    parser.add_argument(
        "--strategies", nargs="+", choices=sorted(BACKENDS), default=sorted(BACKENDS)
    )
    parser.add_argument(
        "--quick", action="store_true", help="One repeat of 1 extra epoch."
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.epochs = 1, 1
    if args.repeats < 1 or args.epochs < 1:
        parser.error("--repeats and --epochs must be at least 1")

    print(summary_line())
    configs = configurations(args.strategies)
    rates = {config[0]: [] for config in configs}
    with tempfile.TemporaryDirectory(prefix="scaling-") as workdir:
        for repeat in range(args.repeats):
            for index, config in enumerate(configs):
                where = os.path.join(workdir, f"{repeat}-{index}")
                rate = measure(config, args.epochs, where)
                rates[config[0]].append(rate)
                print(
                    f"repeat {repeat + 1}/{args.repeats}: {config[0]}: "
                    f"{rate:.0f} images/s",
                    flush=True,
                )
    relative = ratios(configs, rates)
    print(table(configs, rates, relative))
    print(json.dumps({"machine": describe(), "rates": rates, "ratios": relative}))
    return rates


if __name__ == "__main__":
    main()
