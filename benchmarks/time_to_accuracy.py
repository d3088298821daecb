"""Time to accuracy: the default recipes, this tree against a reference revision.

The idea is asv's (airspeed velocity, as NumPy, SciPy and pandas compare
revisions): the same commands, run by the same interpreter on the same
machine, for two versions of the code, interleaved so that a slow spell of a
shared machine falls on both. The reference is exported with `git archive`
into a temporary folder; each recipe runs there as a child process
(`python -m recipes.NAME`) with that folder first on `sys.path`, so it imports
its own `components`.

Per recipe it prints the accuracy figure (test accuracy for classify, the
mean over `--seeds`; pycocotools mAP@0.5 for yolo and rcnn, seed 0), the
median training seconds and whole-command wall seconds, and the new /
reference ratio of each; then whether the goals below are met. The goals are
fixed here, before any run: the same rule for every tree.

Runs land in `--out/<side>/<recipe>-seed<S>`; a finished run whose code and
flags are the same is reused, so an interrupted benchmark picks up where it
stopped (the current tree's runs are reused only while its code is unchanged).

    python -m benchmarks.time_to_accuracy                    # ~1 hour, 2 CPU cores
    python -m benchmarks.time_to_accuracy --reference none   # this tree only
    python -m benchmarks.time_to_accuracy --recipes classify --seeds 0 1
    python -m benchmarks.time_to_accuracy --quick            # short runs, ~5 minutes
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import machine
from benchmarks.cli import docstring_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_REFERENCE = "864f676"  # the last commit before the speed work


@dataclasses.dataclass(frozen=True)
class Recipe:
    module: str
    figure: str  # the metrics.json key of its accuracy figure
    quick: tuple  # flags of its short form (`--quick`)
    seeded: bool  # runs once per seed (else seed 0 only)


RECIPES = {
    "classify": Recipe(
        "recipes.classify", "test_accuracy", ("--epochs", "3", "--no-baseline"), True
    ),
    "yolo": Recipe("recipes.yolo", "map50", ("--quick",), False),
    "rcnn": Recipe("recipes.rcnn", "map50", ("--quick",), False),
}

# The issue's goals: (least accuracy figure, most new / reference ratio, the
# ratio's measure). Judged on the default commands only, not on `--quick`.
GOALS = {
    "classify": (0.994, 0.45, "train_seconds"),
    "yolo": (0.98, 0.45, "wall_seconds"),
    "rcnn": (0.98, 0.45, "wall_seconds"),
}


def git(*args, cwd=ROOT):
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def resolve(revision):
    """The full commit id of `revision`, or a clear error."""
    try:
        return git("rev-parse", "--verify", f"{revision}^{{commit}}").strip()
    except subprocess.CalledProcessError:
        raise SystemExit(
            f"--reference {revision!r}: not a commit of this repository "
            "(give a commit id, a tag or a branch, or 'none')."
        ) from None


def export(commit, folder):
    """Writes the tree of `commit` into `folder` (`git archive`, no .git)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return folder


def tree_key(commit=None):
    """What identifies the code a run used: a commit, or for the working
    tree its HEAD plus a hash of its uncommitted changes to tracked files."""
    if commit is not None:
        return commit
    head = git("rev-parse", "HEAD").strip()
    changes = git("diff", "HEAD", "--", ".", ":(exclude)runs")
    return f"{head}+{hashlib.sha1(changes.encode()).hexdigest()[:12]}"


def child_env(tree):
    """The environment a child runs `tree`'s code with: `tree` first on
    `sys.path`, ahead of the editable install of this checkout."""
    return dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL="3")


def run_recipe(tree, recipe, flags, run_dir):
    """Runs one recipe in `tree` as a child process; returns its figures."""
    os.makedirs(os.path.dirname(run_dir), exist_ok=True)
    env = child_env(tree)
    command = [sys.executable, "-m", recipe.module, *flags]
    command += ["--run-dir", run_dir, "--verbose", "0"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} (in {tree}) exited {done.returncode}:\n"
            + done.stderr[-3000:]
        )
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    return {
        "accuracy": float(metrics[recipe.figure]),
        "train_seconds": float(metrics["train_seconds"]),
        "wall_seconds": round(wall, 2),
    }


def cached_run(side, tree, key, name, seed, flags, out):
    """`run_recipe`, reusing a finished run of the same code and flags."""
    recipe = RECIPES[name]
    run_dir = os.path.join(out, side, f"{name}-seed{seed}")
    stamp_path = os.path.join(run_dir, "time_to_accuracy.json")
    stamp = {"code": key, "flags": list(flags)}
    if os.path.exists(stamp_path):
        with open(stamp_path) as f:
            saved = json.load(f)
        if {k: saved.get(k) for k in stamp} == stamp:
            return saved["figures"], True
    if os.path.exists(run_dir):
        # A half-finished or stale run: the recipe refuses a non-empty folder.
        shutil.rmtree(run_dir)
    figures = run_recipe(tree, recipe, flags, run_dir)
    with open(stamp_path, "w") as f:
        json.dump({**stamp, "figures": figures}, f, indent=1)
    return figures, False


def summarize(rows):
    """Per recipe and side: mean accuracy, medians of the timings, and the
    new / reference ratios. `rows` holds `(side, recipe, seed, figures)`."""
    table = {}
    for name in dict.fromkeys(r[1] for r in rows):
        entry = {}
        for side in ("reference", "new"):
            figures = [f for s, n, _, f in rows if s == side and n == name]
            if not figures:
                continue
            entry[side] = {
                "runs": len(figures),
                "accuracy": statistics.mean(f["accuracy"] for f in figures),
                "min_accuracy": min(f["accuracy"] for f in figures),
                "train_seconds": statistics.median(f["train_seconds"] for f in figures),
                "wall_seconds": statistics.median(f["wall_seconds"] for f in figures),
            }
        if "reference" in entry and "new" in entry:
            for measure in ("train_seconds", "wall_seconds"):
                entry[f"{measure}_ratio"] = (
                    entry["new"][measure] / entry["reference"][measure]
                )
        table[name] = entry
    return table


def verdict(name, entry):
    """The goal's verdict for one recipe's summary: 'met', 'missed' or 'n/a'
    (no reference side to take a ratio against)."""
    least, most, measure = GOALS[name]
    ratio = entry.get(f"{measure}_ratio")
    if ratio is None:
        return "n/a"
    return "met" if entry["new"]["accuracy"] >= least and ratio <= most else "missed"


def format_table(table, judge=True):
    lines = [
        f"{'recipe':<10}{'side':<11}{'runs':>5}{'accuracy':>10}{'min':>8}"
        f"{'train s':>9}{'wall s':>9}"
    ]
    for name, entry in table.items():
        for side in ("reference", "new"):
            if side in entry:
                e = entry[side]
                lines.append(
                    f"{name:<10}{side:<11}{e['runs']:>5}{e['accuracy']:>10.4f}"
                    f"{e['min_accuracy']:>8.4f}{e['train_seconds']:>9.1f}"
                    f"{e['wall_seconds']:>9.1f}"
                )
        if "train_seconds_ratio" in entry:
            least, most, measure = GOALS[name]
            goal = f"goal: accuracy >= {least}, {measure} ratio <= {most}"
            lines.append(
                f"{name:<10}{'new / ref':<11}{'':>5}{'':>10}{'':>8}"
                f"{entry['train_seconds_ratio']:>8.2f}x"
                f"{entry['wall_seconds_ratio']:>8.2f}x"
                + (f"   {goal}: {verdict(name, entry)}" if judge else "")
            )
    return "\n".join(lines)


def parse_args(argv):
    parser = docstring_parser("time_to_accuracy", __doc__)
    parser.add_argument(
        "--reference",
        default=DEFAULT_REFERENCE,
        help=f"Revision to compare with (default {DEFAULT_REFERENCE}); 'none' skips it.",
    )
    parser.add_argument(
        "--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES)
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="classify's seeds"
    )
    parser.add_argument("--quick", action="store_true", help="each recipe's short form")
    parser.add_argument(
        "--out",
        default=os.path.join("runs", "time_to_accuracy"),
        help="Folder of the runs and results.json (default runs/time_to_accuracy).",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out = os.path.abspath(args.out)
    reference = None if args.reference.lower() == "none" else resolve(args.reference)
    jobs = [
        (name, seed)
        for name in args.recipes
        for seed in (args.seeds if RECIPES[name].seeded else [0])
    ]
    rows, new_key = [], tree_key()
    with tempfile.TemporaryDirectory(prefix="tta-reference-") as folder:
        sides = [("new", ROOT, new_key)]
        if reference:
            sides.append(("reference", export(reference, folder), tree_key(reference)))
        for index, (name, seed) in enumerate(jobs):
            flags = ["--seed", str(seed), *(RECIPES[name].quick if args.quick else ())]
            # Alternate which side goes first, so drift over the run cancels.
            for side, tree, key in sides if index % 2 == 0 else sides[::-1]:
                figures, reused = cached_run(side, tree, key, name, seed, flags, out)
                rows.append((side, name, seed, figures))
                print(
                    f"{name} seed {seed} {side}: accuracy {figures['accuracy']:.4f}, "
                    f"train {figures['train_seconds']:.1f} s, "
                    f"wall {figures['wall_seconds']:.1f} s"
                    + (" (reused)" if reused else ""),
                    flush=True,
                )
    table = summarize(rows)
    print()
    print(format_table(table, judge=not args.quick))
    print(machine.summary_line())
    results = {
        "machine": machine.describe(),
        "reference": reference,
        "new": new_key,
        "quick": args.quick,
        "seeds": args.seeds,
        "runs": [{"side": s, "recipe": n, "seed": seed, **f} for s, n, seed, f in rows],
        "summary": table,
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps({"summary": table}))
    return results


if __name__ == "__main__":
    main()
