"""Random search with log-scale vs linear-scale learning-rate sampling.

The notes: "search for hyperparameters on log scale ... learning_rate =
10 ** uniform(-6, 1)". For each seed, two random searches with the same budget
and the same search space except how the learning rate over [1e-6, 10] is
sampled; the digits split, the data pipeline and everything else are shared.
Sampled linearly, 90% of the draws fall in [1, 10], where training diverges.
The last line is JSON.

    python -m benchmarks.log_vs_linear
    python -m benchmarks.log_vs_linear --seeds 0 1 2 3 4 5 --trials 8
"""

from __future__ import annotations

import argparse
import json
import tempfile

import keras_tuner

from components import data
from recipes import classify
from tuning.hypermodels import ClassifyHyperModel
from tuning.search import tuner_seed


def best_score(config, splits, train, normalizer, sampling, trials, directory):
    hypermodel = ClassifyHyperModel(
        config,
        splits,
        normalizer,
        builders=("vgg",),
        learning_rate_sampling=sampling,
    )
    seed, epochs = config.seed, config.epochs
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective="val_accuracy",
        max_trials=trials,
        seed=tuner_seed(seed),
        directory=directory,
        project_name=f"{sampling}_{seed}",
        overwrite=True,
    )
    tuner.search(
        train, validation_data=splits.validation, epochs=epochs, verbose=0, seed=seed
    )
    best = tuner.oracle.get_best_trials(1)[0]
    return best.score, best.hyperparameters.get("learning_rate")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.log_vs_linear", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=16)
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for seed in args.seeds:
            config = classify.Config(
                image_size=args.image_size, seed=seed, epochs=args.epochs
            )
            splits, train = classify.load_data(config)
            normalizer = data.fit_normalizer(train)
            row = {"seed": seed}
            for sampling in ("log", "linear"):
                score, rate = best_score(
                    config, splits, train, normalizer, sampling, args.trials, directory
                )
                row[sampling] = score
                row[f"{sampling}_learning_rate"] = rate
            rows.append(row)
            print(
                f"seed {seed}: log {row['log']:.4f} (lr {row['log_learning_rate']:.2g})  "
                f"linear {row['linear']:.4f} (lr {row['linear_learning_rate']:.2g})",
                flush=True,
            )

    wins = int(sum(r["log"] > r["linear"] for r in rows))
    ties = int(sum(r["log"] == r["linear"] for r in rows))
    print(f"\n{'seed':<6}{'log val acc':>13}{'linear val acc':>16}")
    for r in rows:
        print(f"{r['seed']:<6}{r['log']:>13.4f}{r['linear']:>16.4f}")
    print(
        f"log scale better in {wins} of {len(rows)} seeds ({ties} ties); "
        f"{args.trials} trials of {args.epochs} epochs each"
    )
    print(
        json.dumps(
            {
                "rows": rows,
                "log_wins": wins,
                "ties": ties,
                "trials": args.trials,
                "epochs": args.epochs,
            }
        )
    )
    return rows


if __name__ == "__main__":
    main()
