"""The peer benchmark's common scorer: every detector rated the same way."""

import os
import subprocess
import sys

import pytest

from benchmarks import detector_peers, shapes


@pytest.fixture(scope="module")
def shapes_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("peers") / "shapes")
    shapes.write_shapes(root, {"train": 2, "val": 1, "test": 5}, seed=3)
    return root


def _rows_from_labels(root, shift=0.0, drop=None):
    """Detections that repeat the test labels (shifted by `shift` pixels),
    keyed by file name, as each detector hands them to the scorer."""
    truth, files = detector_peers.test_truth(root)
    rows = []
    for annotation in truth["annotations"]:
        name = os.path.basename(files[annotation["image_id"]])
        if name == drop:
            continue
        x, y, w, h = annotation["bbox"]
        rows.append(
            {
                "image_id": annotation["image_id"],
                "category_id": annotation["category_id"],
                "bbox": [x + shift, y + shift, w, h],
                "score": 0.9,
            }
        )
    return truth, files, rows


def test_the_truth_is_read_in_each_images_own_pixels(shapes_set):
    truth, files = detector_peers.test_truth(shapes_set)
    from PIL import Image

    assert len(truth["images"]) == 5 and len(truth["categories"]) == 3
    for image in truth["images"]:
        assert Image.open(files[image["id"]]).size == (image["width"], image["height"])
    for annotation in truth["annotations"]:
        image = truth["images"][annotation["image_id"] - 1]
        x, y, w, h = annotation["bbox"]
        # Shapes are 6-30% of the shorter side, inside the image.
        shorter = min(image["width"], image["height"])
        assert 0.06 * shorter - 0.01 <= w <= 0.30 * shorter + 0.01
        assert (
            x >= -1e-3
            and x + w <= image["width"] + 1e-3
            and y + h <= image["height"] + 1e-3
        )


def test_the_scorer_rates_exact_shifted_and_missing_detections(shapes_set):
    truth, _, exact = _rows_from_labels(shapes_set)
    assert detector_peers.score(truth, exact) == {"map50": 1.0, "map": 1.0}
    # A few pixels off: still found at IoU 0.5, not at the strictest thresholds.
    _, _, shifted = _rows_from_labels(shapes_set, shift=4.0)
    off = detector_peers.score(truth, shifted)
    assert off["map"] < off["map50"] <= 1.0 and off["map"] < 0.9
    # An image with no detection: its objects are missed.
    first = sorted(os.listdir(os.path.join(shapes_set, "images", "test")))[0]
    _, _, partial = _rows_from_labels(shapes_set, drop=first)
    assert detector_peers.score(truth, partial)["map50"] < 1.0


def test_the_peer_is_skipped_with_its_reason_when_missing(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ultralytics" else real(name, *a),
    )
    assert "pip install" in detector_peers.peer_missing()


def test_a_peer_python_that_cannot_run_it_is_named(tmp_path):
    # Ultralytics kept in an environment of its own (--peer-python): an
    # interpreter that is not there, or that lacks it, is named with why.
    missing = str(tmp_path / "no-such-python")
    reason = detector_peers.peer_missing(missing)
    assert reason.startswith(f"--peer-python {missing}:")
    venv = tmp_path / "bare"  # a fresh environment: no ultralytics in it
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    bare = str(venv / "bin" / "python")
    reason = detector_peers.peer_missing(bare)
    assert "cannot import ultralytics" in reason and "ModuleNotFoundError" in reason


def test_the_project_command_passes_its_flags_only_when_given():
    # A recipe left at its defaults gets none of the flags; asked for, each
    # goes through to the recipe, as the shapes' `--epochs 18 --batch-size 4
    # --learning-rate 0.002` must.
    plain = detector_peers.project_command("yolo_dense", "/set", 224, "/run")
    for flag in ("--epochs", "--batch-size", "--learning-rate"):
        assert flag not in plain
    assert plain[plain.index("--head") + 1] == "dense"
    given = detector_peers.project_command(
        "yolo_dense", "/set", 224, "/run", epochs=18, batch_size=4, learning_rate=0.002
    )
    assert given[given.index("--epochs") + 1] == "18"
    assert given[given.index("--batch-size") + 1] == "4"
    assert given[given.index("--learning-rate") + 1] == "0.002"
    args = detector_peers.parse_args(["--batch-size", "4", "--sets", "shapes"])
    assert args.batch_size == 4 and args.epochs is None and args.learning_rate is None
    with pytest.raises(ValueError, match="momentum"):
        detector_peers.project_command("yolo", "/set", 224, "/run", momentum=0.9)


def test_the_default_detector_runs_as_a_user_runs_it():
    # The own-data command alone: the input size, resize, head and schedule
    # are the recipe's own choices, not the benchmark's.
    command = detector_peers.project_command(
        "yolo_default", "/set", 224, "/run", epochs=18
    )
    for flag in ("--image-size", "--resize", "--head", "--epochs"):
        assert flag not in command
    assert command[command.index("--dataset") + 1] == "yolo:/set"


def test_peer_options_are_parsed_and_the_benchmarks_own_are_refused(capsys):
    args = detector_peers.parse_args(
        ["--peer-option", "batch=4", "--peer-option", "optimizer=SGD"]
        + ["--peer-option", "cos_lr=True", "--peer-seconds", "577"]
    )
    assert args.peer_option == {"batch": 4, "optimizer": "SGD", "cos_lr": True}
    assert args.peer_seconds == 577.0
    assert detector_peers.parse_args([]).peer_option == {}
    # The set, the budget and the run folder are the benchmark's: an option
    # that changes them would make the table compare something else.
    for bad, said in (("epochs=5", "cannot set epochs"), ("batch", "KEY=VALUE")):
        with pytest.raises(SystemExit) as exit_info:
            detector_peers.parse_args(["--peer-option", bad])
        assert exit_info.value.code == 2
        assert said in capsys.readouterr().err
