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
    argv += ["--head", "v1", "--stages", "1,1,1", "--head-width", "32"]
    argv += ["--batch-size", "4"]
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


def test_a_small_sets_closing_report_names_its_steps_and_suggests_more(
    tmp_path, capsys
):
    # 120 images, 84 of them for training, batches of 32: 3 steps an epoch.
    import re

    write_class_folders(tmp_path / "data", per_class=40)
    argv = ["--dataset", f"dir:{tmp_path / 'data'}", "--image-size", "8"]
    argv += ["--width", "8", "--epochs", "2", "--batch-size", "32", "--verbose", "0"]
    argv += ["--no-baseline", "--no-monitors", "--run-dir", str(tmp_path / "run")]
    metrics = classify.main(argv)
    out = capsys.readouterr().out
    found = re.search(r"training: 2 epochs x (\d+) steps = (\d+) steps", out)
    assert found, out
    per_epoch, total = int(found.group(1)), int(found.group(2))
    assert per_epoch == -(-metrics["train_examples"] // 32) and total == 2 * per_epoch
    assert f"consider --epochs {-(-100 // per_epoch)}" in out
