"""Train on your own files, then predict on new ones with `recipes.predict`.

The README's own commands (class folders, YOLO labels) run in
tests/test_readme.py; these cover the npz and COCO sources and bad input."""

import csv
import json

import numpy as np
import pytest

from recipes import classify, predict, rcnn, yolo
from tests.own_datasets import (
    SHAPES,
    grey_arrays,
    score_detections,
    write_class_folders,
    write_detection_set,
    write_new_box_images,
)

QUIET = ["--verbose", "0"]
CLASSIFY = ["--epochs", "4", "--width", "8", "--no-baseline", "--no-monitors", *QUIET]
FASTER = ["--quick", "--image-size", "48", "--stages", "1,1,1", "--epochs", "10"]
FASTER += QUIET


def _exit_code(function, argv, capsys):
    with pytest.raises(SystemExit) as info:
        function(argv)
    return info.value.code, capsys.readouterr().err


def test_classifier_trained_on_an_npz_scores_an_npz(tmp_path):
    images, labels = grey_arrays(150)
    np.savez(
        tmp_path / "d.npz", x=images, y=labels, class_names=["dark", "mid", "light"]
    )
    new_images, new_labels = grey_arrays(30, seed=5)
    np.savez(tmp_path / "new.npz", x=new_images)
    run_dir = tmp_path / "run"
    classify.main(
        ["--dataset", f"npz:{tmp_path / 'd.npz'}", *CLASSIFY, "--run-dir", str(run_dir)]
    )
    rows = predict.main([str(run_dir), str(tmp_path / "new.npz"), "--top-k", "1"])
    assert [r["file"] for r in rows] == [
        f"{tmp_path / 'new.npz'}[{i}]" for i in range(30)
    ]
    names = ["dark", "mid", "light"]
    found = [names.index(r["top"][0]["class"]) for r in rows]
    assert np.mean(np.asarray(found) == new_labels) >= 0.9


def test_faster_rcnn_trained_on_coco_json_finds_boxes_in_new_images(tmp_path):
    write_detection_set(tmp_path / "set", count=150)
    truth = write_new_box_images(tmp_path / "new", 12, (48, 64))
    run_dir = tmp_path / "run"
    spec = f"coco:{tmp_path / 'set' / 'annotations.json'}"
    metrics = rcnn.main(["--dataset", spec, *FASTER, "--run-dir", str(run_dir)])
    assert metrics["dataset"] == spec
    output = predict.main(
        [
            str(run_dir),
            *truth,
            "--out",
            str(tmp_path / "b.csv"),
            "--score-threshold",
            "0.5",
        ]
    )
    hit_rate, map50 = score_detections(output, truth, (48, 64))
    # The YOLO test's rule (tests/test_readme.py); measured: 12 of 12, 1.0.
    assert hit_rate >= 0.75 and map50 >= 0.6, (hit_rate, map50)
    with open(tmp_path / "b.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(output["detections"]) > 0
    assert all(float(r["score"]) >= 0.5 for r in table)
    assert {r["class"] for r in table} <= set(SHAPES)


def _break_folder(root):
    write_class_folders(root, per_class=6)
    (root / "green" / "2.jpg").write_bytes(b"\x00" * 10)
    return f"dir:{root}", "2.jpg"


def _break_npz(root):
    root.mkdir()
    np.savez(root / "d.npz", x=np.zeros((9, 4, 4), "uint8"), y=np.zeros(8, int))
    return f"npz:{root / 'd.npz'}", "d.npz"


def _break_yolo(root):
    write_detection_set(root, count=6)
    (root / "labels" / "003.txt").write_text("5 0.5 0.5 0.1 0.1\n")
    return f"yolo:{root}", "003.txt:1"


def _break_coco(root):
    write_detection_set(root, count=6)
    path = root / "annotations.json"
    content = json.loads(path.read_text())
    content["annotations"][2]["bbox"] = [60, 40, 20, 20]
    path.write_text(json.dumps(content))
    return f"coco:{path}", "outside its 64x48 image"


@pytest.mark.parametrize(
    "recipe, break_data",
    [
        (classify, _break_folder),
        (classify, _break_npz),
        (yolo, _break_yolo),
        (rcnn, _break_coco),
    ],
    ids=["dir", "npz", "yolo", "coco"],
)
def test_bad_data_is_one_line_naming_the_file_and_leaves_no_run_dir(
    tmp_path, capsys, recipe, break_data
):
    spec, named = break_data(tmp_path / "data")
    run_dir = tmp_path / "run"
    argv = ["--dataset", spec, "--run-dir", str(run_dir), *QUIET]
    if recipe is not classify:
        argv += ["--image-size", "56", "--stages", "1,1,1"]
    code, err = _exit_code(recipe.main, argv, capsys)
    assert code == 2 and named in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not run_dir.exists()


def test_predict_refuses_bad_inputs_with_exit_2(tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"no image here")
    (tmp_path / "notes.txt").write_text("text")
    write_class_folders(tmp_path / "photos", per_class=6)
    run_dir = tmp_path / "run"
    classify.main(
        [
            "--dataset",
            f"dir:{tmp_path / 'photos'}",
            *CLASSIFY,
            "--epochs",
            "1",
            "--run-dir",
            str(run_dir),
        ]
    )
    good = str(tmp_path / "photos" / "red" / "1.png")
    cases = [
        ([str(tmp_path / "nowhere"), good], "No model at"),
        ([str(run_dir), str(tmp_path / "missing.png")], "does not exist"),
        ([str(run_dir), good, str(tmp_path / "broken.png")], "broken.png"),
        ([str(run_dir), str(tmp_path / "notes.txt")], "is not an image"),
        (
            [str(run_dir), good, "--draw", str(tmp_path / "d")],
            "--draw is for detectors",
        ),
        ([str(run_dir), good, "--top-k", "0"], "--top-k"),
        ([str(run_dir), good, "--out", str(tmp_path / "x.txt")], ".json or .csv"),
    ]
    for argv, message in cases:
        code, err = _exit_code(predict.main, argv, capsys)
        assert code == 2 and message in err, (argv, err)
    assert not (tmp_path / "d").exists()
