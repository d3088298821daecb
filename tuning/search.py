"""Hyperparameter search over a recipe with KerasTuner: log-scale, resumable, distributed.

    python -m tuning.search classify --tuner random --max-trials 20 --directory tuning_runs
    python -m tuning.search classify --tuner bayesian --max-trials 30 --retrain
    python -m tuning.search yolo --max-trials 8 --recipe-args "--train-images 1000"

Killed in the middle (even with kill -9), the same command continues where it
stopped: finished trials are read back from `--directory`, the interrupted one
runs again, and the search ends with exactly `--max-trials` trials. With the
environment variables `KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT` set (see `python -m tuning.launch`), the process is the
chief or a worker of a distributed search. The best hyperparameters are written
to `<directory>/<project>/best_hyperparameters.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys

import keras
import keras_tuner

from components import data
from components.checks import invalid_value
from recipes import classify, yolo
from recipes.run import flags, reports
from tuning.hypermodels import SAMPLINGS, ClassifyHyperModel, YoloHyperModel
from tuning.pictures import plot_objective
from tuning.processes import (
    CHILD_ENV,
    PAUSED,
    QuotaReached,
    run_in_children,
    with_memory_log,
)
from tuning.project_files import check_project

RECIPES = ("classify", "yolo")
# What a trial is scored on (KerasTuner minimizes a loss, maximizes the rest).
OBJECTIVES = {"classify": "val_accuracy", "yolo": "val_map"}
REPORTED = {
    "classify": ["model", "learning_rate", "l2", "dropout", "optimizer", "batch_size"],
    "yolo": [
        "width",
        "head_width",
        "lambda_coord",
        "lambda_noobj",
        "class_weight",
        "box_weight",
        "distribution_weight",
        "learning_rate",
        "batch_size",
    ],
}
TUNERS = ("random", "hyperband", "bayesian")


def build_parser():
    parser = flags.OneLineParser(
        prog="python -m tuning.search",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("recipe", help=f"recipe to tune: {', '.join(RECIPES)}")
    parser.add_argument("--tuner", default="random", help=f"one of {', '.join(TUNERS)}")
    parser.add_argument(
        "--max-trials", type=int, default=10, help="trials (random, bayesian)"
    )
    parser.add_argument(
        "--directory", default="tuning_runs", help="where trials are kept"
    )
    parser.add_argument("--project-name", default=None, help="default: RECIPE_TUNER")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    parser.add_argument(
        "--image-size", type=int, default=16, help="digits image size (classify)"
    )
    parser.add_argument(
        "--dataset", default="digits", help="as in the recipe (classify)"
    )
    parser.add_argument(
        "--recipe-args",
        default="",
        help="the recipe's own flags for its fixed settings, quoted (yolo: e.g. "
        '"--train-images 1000 --epochs 10"; trials use --epochs of the search)',
    )
    parser.add_argument(
        "--builders",
        default="vgg,alexnet,googlenet,squeezenet,mlp",
        help="comma-separated model builders to choose from",
    )
    parser.add_argument("--lr-sampling", default="log", help="log or linear")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the split and the tuner"
    )
    parser.add_argument("--top", type=int, default=5, help="best trials to list")
    parser.add_argument(
        "--retrain",
        action="store_true",
        help="retrain the best configuration through the recipe",
    )
    parser.add_argument(
        "--retrain-epochs", type=int, default=30, help="epochs of the retraining"
    )
    parser.add_argument("--verbose", type=int, default=1, help="0 silent, 1 progress")
    parser.add_argument(
        "--trials-per-process",
        type=int,
        default=10,
        help="run trials in child processes of at most this many trials each, so "
        "that memory cannot grow across trials (0: all in this process); the peak "
        "memory of each trial is logged in <directory>/<project>/memory.csv",
    )
    return parser


def validate(args):
    if args.recipe not in RECIPES:
        raise ValueError(
            invalid_value("recipe", args.recipe, f"one of {', '.join(RECIPES)}")
        )
    if args.tuner not in TUNERS:
        raise ValueError(
            invalid_value("tuner", args.tuner, f"one of {', '.join(TUNERS)}")
        )
    if args.trials_per_process < 0:
        raise ValueError(
            invalid_value(
                "trials_per_process", args.trials_per_process, "an integer >= 0"
            )
        )
    for name in ("max_trials", "epochs", "top", "retrain_epochs"):
        value = getattr(args, name)
        if value < 1:
            raise ValueError(invalid_value(name, value, "an integer >= 1"))
    tuner_seed(args.seed)  # a negative seed fails here, before any data loads
    if args.lr_sampling not in SAMPLINGS:
        raise ValueError(
            invalid_value("lr_sampling", args.lr_sampling, "'log' or 'linear'")
        )


def tuner_seed(seed):
    """The seed to hand KerasTuner for the search's `seed` (an integer >= 0).

    KerasTuner's oracle reads every false seed as none (`seed or
    random.randint(1, 10000)`), so seed 0, the default, would draw the
    trials from Python's global random state: a search would not repeat,
    and in a process that ran other code first, it would depend on that
    code. Seed `s` is handed over as `s + 1`.

    Example:

    >>> tuner_seed(0)
    1
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(invalid_value("seed", seed, "an integer >= 0"))
    return seed + 1


def make_tuner(
    kind,
    hypermodel,
    max_trials,
    epochs,
    directory,
    project_name,
    seed,
    quota=None,
    objective="val_accuracy",
):
    """The KerasTuner tuner of `kind`, reloading a search found in `directory`."""
    common = {
        # KerasTuner infers a direction from Keras's own metric names only:
        # mAP is maximized.
        "objective": keras_tuner.Objective(objective, "max")
        if objective == "val_map"
        else objective,
        "directory": directory,
        "project_name": project_name,
        "seed": tuner_seed(seed),
        "overwrite": False,
        # Diverged trials fail (`fit_or_fail`); on the notes' log-uniform
        # learning rates over [1e-6, 10] several in a row are expected, and
        # KerasTuner's default of 3 would end the search on them.
        "max_consecutive_failed_trials": max(3, max_trials),
    }
    classes = {
        "random": keras_tuner.RandomSearch,
        "bayesian": keras_tuner.BayesianOptimization,
        "hyperband": keras_tuner.Hyperband,
    }
    cls = with_memory_log(classes[kind], quota)
    if kind == "hyperband":
        # Hyperband's budget is its epochs: `max_trials` does not apply.
        return cls(hypermodel, max_epochs=epochs, factor=3, **common)
    return cls(hypermodel, max_trials=max_trials, **common)


def role():
    """`"chief"`, `"worker"` or `"single"`, from KerasTuner's environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def recipe_flags(values, hypermodel):
    """Command-line flags of the recipe for a trial's hyperparameters: the
    fields of the trial's config that differ from the search's fixed ones."""
    trial = hypermodel.trial_config(values)
    flags = []
    for field in dataclasses.fields(trial):
        value = getattr(trial, field.name)
        if value is not None and value != getattr(hypermodel.config, field.name):
            flags += [f"--{field.name.replace('_', '-')}", _flag_value(value)]
    return flags


def _flag_value(value):
    return repr(value) if isinstance(value, float) else str(value)


def report(tuner, top, names, objective):
    trials = tuner.oracle.get_best_trials(top)
    # The names this search sampled (a kind of detector has its own weights).
    names = [n for n in names if any(n in t.hyperparameters.values for t in trials)]
    header = f"{'trial':<7}{objective:>13}  " + "  ".join(f"{n:>13}" for n in names)
    lines = [header, "-" * len(header)]
    for trial in trials:
        values = trial.hyperparameters.values
        cells = [
            f"{values[n]:>13.3g}"
            if isinstance(values[n], float)
            else f"{values[n]!s:>13}"
            for n in names
        ]
        score = float("nan") if trial.score is None else trial.score
        lines.append(f"{trial.trial_id:<7}{score:>13.4f}  " + "  ".join(cells))
    reports.report(lines)
    return trials


def load_recipe(args):
    """The recipe's data and hypermodel: `(hypermodel, train, validation, argv)`.

    `argv` holds the recipe flags that fix its settings (for the retraining).
    """
    recipe_argv = shlex.split(args.recipe_args)
    # The trials' epochs are the search's: the recipe's schedule (cosine decay
    # per step by default) spans them, as it spans a retraining's epochs.
    search_flags = ["--seed", str(args.seed), "--epochs", str(args.epochs)]
    if args.recipe == "yolo":
        config, _ = flags.parse_config(
            yolo.Config,
            [*recipe_argv, *search_flags],
            "yolo",
            "",
            yolo.QUICK,
        )
        splits = yolo.load_splits(config)
        hypermodel = YoloHyperModel(config, splits, args.lr_sampling)
        return hypermodel, "train", "validation", recipe_argv
    builders = tuple(b for b in args.builders.split(",") if b)
    argv = ["--dataset", args.dataset, "--image-size", str(args.image_size)]
    argv += recipe_argv
    config, _ = flags.parse_config(
        classify.Config,
        [*argv, *search_flags],
        "classify",
        "",
    )
    splits, train = classify.load_data(config)
    hypermodel = ClassifyHyperModel(
        config,
        splits,
        data.fit_normalizer(train, config.normalize),
        builders=builders,
        learning_rate_sampling=args.lr_sampling,
    )
    return hypermodel, train, splits.stream("validation"), argv


def main(argv=None):
    """Runs (or resumes) a search; returns the best hyperparameters and counts."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    with flags.usage_errors(parser):
        validate(args)
        hypermodel, train, validation, fixed_argv = load_recipe(args)
    objective = OBJECTIVES[args.recipe]
    project = args.project_name or f"{args.recipe}_{args.tuner}"
    if role() != "worker":  # the chief, or a single search, owns the files
        with flags.usage_errors(parser):
            check_project(os.path.join(args.directory, project))
    child = CHILD_ENV in os.environ
    processes = 0
    # The chief only serves the oracle; workers and single searches train.
    if args.trials_per_process and role() != "chief" and not child:
        os.environ[CHILD_ENV] = str(args.trials_per_process)
        try:
            processes = run_in_children(argv, args.verbose)
        finally:
            os.environ.pop(CHILD_ENV)
        if role() == "worker":
            return {"role": "worker", "processes": processes}
    quota = int(os.environ[CHILD_ENV]) if child else None
    tuner = make_tuner(
        args.tuner,
        hypermodel,
        args.max_trials,
        args.epochs,
        args.directory,
        project,
        args.seed,
        quota,
        objective,
    )
    if not processes:
        # Per-trial logs and the HParams dashboard (KerasTuner adds both to a
        # TensorBoard callback): tensorboard --logdir <project>/tensorboard
        logs = keras.callbacks.TensorBoard(
            os.path.join(tuner.project_dir, "tensorboard")
        )
        try:
            tuner.search(
                train,
                validation_data=validation,
                epochs=args.epochs,
                verbose=args.verbose,
                seed=args.seed,
                callbacks=[logs],
            )
        except QuotaReached:
            sys.exit(PAUSED)
    if child:
        return {"role": "child"}
    if role() == "worker":
        return {"role": "worker"}
    # KerasTuner saves the oracle before it forgets the last ongoing trial; in
    # a distributed search that trial would run again on the next start.
    tuner.oracle.save()

    trials = report(tuner, args.top, REPORTED[args.recipe], objective)
    plot_objective(
        list(tuner.oracle.trials.values()),
        tuner.oracle.hyperparameters.space,
        objective,
        os.path.join(tuner.project_dir, "objective.png"),
    )
    best = trials[0].hyperparameters.values
    counts = {}
    for trial in tuner.oracle.trials.values():
        counts[trial.status] = counts.get(trial.status, 0) + 1
    result = {
        "best_hyperparameters": best,
        "objective": objective,
        "best_score": trials[0].score,
        "best_trial": trials[0].trial_id,
        "trials": len(tuner.oracle.trials),
        "statuses": counts,
        "recipe_flags": recipe_flags(best, hypermodel),
        "processes": processes or 1,
    }
    reports.atomic_write_json(
        os.path.join(tuner.project_dir, "best_hyperparameters.json"), result
    )
    reports.report(
        [
            f"best hyperparameters: {tuner.project_dir}/best_hyperparameters.json",
            f"retrain with: python -m recipes.{args.recipe} "
            + " ".join(shlex.quote(f) for f in [*fixed_argv, *result["recipe_flags"]]),
        ]
    )
    if args.retrain:
        recipe = {"classify": classify, "yolo": yolo}[args.recipe]
        result["retrained"] = recipe.main(
            [
                *fixed_argv,
                *result["recipe_flags"],
                "--epochs",
                str(args.retrain_epochs),
                "--seed",
                str(args.seed),
                "--run-dir",
                os.path.join(tuner.project_dir, "best_run"),
                # The search's own folder: a repeated or resumed search
                # retrains into it again.
                "--overwrite",
            ]
        )
    return result


if __name__ == "__main__":
    main()
