"""benchmarks.time_to_accuracy: the reference tree runs its own code, and the
summary and goal verdicts follow from the figures."""

import os
import subprocess
import sys

import pytest

from benchmarks import time_to_accuracy as tta


def test_exported_reference_imports_its_own_code(tmp_path):
    commit = tta.resolve("HEAD")
    tree = tta.export(commit, str(tmp_path))
    with open(os.path.join(tree, "recipes", "classify.py")) as f:
        exported = f.read()
    committed = subprocess.run(
        ["git", "show", f"{commit}:recipes/classify.py"],
        cwd=tta.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert exported == committed
    # The child must find the exported `components`, not this checkout's
    # (installed editable): otherwise both sides would time the same code.
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util as u; print(u.find_spec('components').origin)",
        ],
        cwd=tree,
        env=tta.child_env(tree),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert os.path.realpath(where).startswith(os.path.realpath(tree))


def test_unknown_reference_is_a_clear_error():
    with pytest.raises(SystemExit, match="--reference 'no-such-rev'"):
        tta.resolve("no-such-rev")


def _row(side, recipe, seed, accuracy, train, wall):
    figures = {"accuracy": accuracy, "train_seconds": train, "wall_seconds": wall}
    return side, recipe, seed, figures


def test_summary_takes_mean_accuracy_median_times_and_their_ratio():
    rows = [
        _row("reference", "classify", 0, 0.99, 40.0, 60.0),
        _row("new", "classify", 0, 1.00, 10.0, 20.0),
        _row("reference", "classify", 1, 0.98, 20.0, 30.0),
        _row("new", "classify", 1, 0.99, 30.0, 40.0),
        _row("reference", "classify", 2, 0.97, 30.0, 50.0),
        _row("new", "classify", 2, 0.98, 14.0, 21.0),
    ]
    entry = tta.summarize(rows)["classify"]
    assert entry["new"]["accuracy"] == pytest.approx(0.99)
    assert entry["new"]["min_accuracy"] == 0.98
    assert entry["reference"]["train_seconds"] == 30.0  # median of 40, 20, 30
    assert entry["train_seconds_ratio"] == pytest.approx(14.0 / 30.0)
    assert entry["wall_seconds_ratio"] == pytest.approx(21.0 / 50.0)
    # 0.99 >= 0.994 fails the accuracy half of the goal although 0.47 is close.
    assert tta.verdict("classify", entry) == "missed"


@pytest.mark.parametrize(
    "accuracy, wall, expected",
    [(0.985, 40.0, "met"), (0.979, 40.0, "missed"), (0.99, 46.0, "missed")],
)
def test_detector_goal_is_judged_on_wall_time(accuracy, wall, expected):
    rows = [
        _row("reference", "yolo", 0, 0.98, 100.0, 100.0),
        _row("new", "yolo", 0, accuracy, 1.0, wall),
    ]
    assert tta.verdict("yolo", tta.summarize(rows)["yolo"]) == expected


def test_no_reference_gives_no_verdict():
    entry = tta.summarize([_row("new", "rcnn", 0, 0.99, 1.0, 2.0)])["rcnn"]
    assert "wall_seconds_ratio" not in entry
    assert tta.verdict("rcnn", entry) == "n/a"
