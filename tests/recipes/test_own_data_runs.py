"""Recipes on a user's files that stream: every box scored, a bad file named."""

import json

import numpy as np
import pytest

from recipes import classify, yolo
from tests.components.test_streams import CROWD, write_crowded_yolo_set
from tests.own_datasets import write_class_folders


def test_an_image_with_30_boxes_trains_and_all_30_are_scored(tmp_path):
    write_crowded_yolo_set(tmp_path / "set")
    run_dir = tmp_path / "run"
    argv = ["--quick", "--dataset", f"yolo:{tmp_path / 'set'}", "--image-size", "56"]
    argv += ["--stages", "1,1,1", "--head-width", "32", "--batch-size", "4"]
    argv += ["--max-objects", "4", "--epochs", "1", "--verbose", "0"]
    yolo.main([*argv, "--run-dir", str(run_dir)])
    truth = json.loads((run_dir / "ground_truth.json").read_text())
    per_image = np.bincount([a["image_id"] for a in truth["annotations"]])
    assert len(truth["images"]) >= 1
    assert set(per_image[per_image > 0]) == {CROWD}


def test_a_file_bad_in_the_middle_of_a_run_is_one_line(tmp_path, capsys):
    root = tmp_path / "folders"
    write_class_folders(root, per_class=8)
    jpg = root / "green" / "4.jpg"
    jpg.write_bytes(jpg.read_bytes()[:200])  # passes the header check at load
    argv = ["--dataset", f"dir:{root}", "--image-size", "8", "--model", "mlp"]
    argv += ["--epochs", "1", "--verbose", "0", "--no-baseline"]
    argv += ["--run-dir", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as info:
        classify.main(argv)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2
    assert "4.jpg" in err and len(err.splitlines()) == 1, err
