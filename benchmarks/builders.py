"""Every registered builder through the classification recipe, on the same split.

Each builder's small preset trains with the recipe's defaults (digits at
32x32, 30 epochs, Adam with cosine decay, rotation and translation) on the
split of `--seed`; the table gives test accuracy, training time, parameters
and multiply-adds per image. The SVC baseline of the same split is the first
row. The last line is JSON.

    python -m benchmarks.builders
    python -m benchmarks.builders --models vgg alexnet -- --epochs 10
"""

from __future__ import annotations

import argparse
import json
import tempfile

from components import models
from components.analysis import flops
from recipes import classify


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.builders", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--models", nargs="+", default=models.available())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("recipe_args", nargs="*", help="flags for recipes.classify")
    args = parser.parse_args(argv)

    rows = {}
    for name in args.models:
        with tempfile.TemporaryDirectory() as run_dir:
            metrics = classify.main(
                [
                    "--model",
                    name,
                    "--seed",
                    str(args.seed),
                    "--run-dir",
                    run_dir,
                    "--verbose",
                    "0",
                    *args.recipe_args,
                ]
            )
        macs = flops(models.build(name, (32, 32, 1), 10))["total_macs"]
        rows[name] = {
            "test_accuracy": metrics["test_accuracy"],
            "train_seconds": metrics["train_seconds"],
            "parameters": metrics["parameters"],
            "macs": macs,
            "svc_accuracy": metrics["baseline_svc_accuracy"],
        }
        print(
            f"{name}: {metrics['test_accuracy']:.4f} in {metrics['train_seconds']:.0f} s",
            flush=True,
        )

    print(
        f"\n{'model':<12}{'test accuracy':>15}{'train s':>10}{'params':>11}{'MACs/image':>13}"
    )
    svc = next(iter(rows.values()))["svc_accuracy"]
    print(f"{'SVC (RBF)':<12}{svc:>15.4f}{'':>10}{'':>11}{'':>13}")
    for name, row in rows.items():
        print(
            f"{name:<12}{row['test_accuracy']:>15.4f}{row['train_seconds']:>10.1f}"
            f"{row['parameters']:>11,}{row['macs']:>13,}"
        )
    print(
        json.dumps(
            {"seed": args.seed, "recipe_args": args.recipe_args, "results": rows}
        )
    )
    return rows


if __name__ == "__main__":
    main()
