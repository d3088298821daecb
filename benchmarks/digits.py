"""The default classification recipe against a tuned SVC, on several seeds.

Each seed draws its own stratified split, initialization and shuffling; the
network and the SVC are scored on the very same test examples of that split.
Extra arguments after `--` go to the recipe unchanged.

    python -m benchmarks.digits
    python -m benchmarks.digits --seeds 0 1 2 -- --ensemble 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile

from recipes import classify


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.digits", description=__doc__
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("recipe_args", nargs="*", help="flags for recipes.classify")
    args = parser.parse_args(argv)

    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as run_dir:
            metrics = classify.main(
                [
                    *args.recipe_args,
                    "--seed",
                    str(seed),
                    "--run-dir",
                    run_dir,
                    "--verbose",
                    "0",
                ]
            )
        rows.append((seed, metrics))
        print(
            f"seed {seed}: network {metrics['test_accuracy']:.4f}  "
            f"SVC {metrics['baseline_svc_accuracy']:.4f}  "
            f"({metrics['train_seconds']:.0f} s)",
            flush=True,
        )

    network = [m["test_accuracy"] for _, m in rows]
    svc = [m["baseline_svc_accuracy"] for _, m in rows]
    seconds = [m["train_seconds"] for _, m in rows]
    print()
    print(f"{'':<10}{'mean test accuracy':>20}{'min':>9}{'max':>9}")
    print(
        f"{'network':<10}{statistics.mean(network):>20.4f}{min(network):>9.4f}{max(network):>9.4f}"
    )
    print(f"{'SVC':<10}{statistics.mean(svc):>20.4f}{min(svc):>9.4f}{max(svc):>9.4f}")
    print(
        f"recipe flags: {' '.join(args.recipe_args) or '(defaults)'}; "
        f"median training time {statistics.median(seconds):.1f} s"
    )
    figures = {
        "seeds": args.seeds,
        "recipe_args": args.recipe_args,
        "accuracies": network,
        "svc_accuracies": svc,
        "mean_accuracy": statistics.mean(network),
        "mean_svc_accuracy": statistics.mean(svc),
        "median_train_seconds": statistics.median(seconds),
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
