import json

import keras
import numpy as np
import pytest

from components import detection
from recipes import yolo

TINY = [
    "--quick",
    "--image-size",
    "56",
    "--stages",
    "1,1,1",
    "--train-images",
    "64",
    "--validation-images",
    "16",
    "--test-images",
    "16",
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--verbose",
    "0",
]


def test_quick_run_writes_coco_files_that_rescore_to_the_same_map(tmp_path):
    run_dir = tmp_path / "run"
    metrics = yolo.main([*TINY, "--run-dir", str(run_dir)])
    for name in (
        "config.json",
        "metrics.json",
        "ground_truth.json",
        "detections.json",
        "model.keras",
        "history.csv",
        "gallery.png",
        "curves.png",
    ):
        assert (run_dir / name).exists(), name
    assert 0.0 <= metrics["map"] <= metrics["map50"] <= 1.0
    assert metrics["test_images"] == 16 and metrics["test_objects"] >= 16
    assert metrics["inference_images_per_second"] > 0
    assert metrics["postprocess_ms_per_image"] > 0
    truth = json.loads((run_dir / "ground_truth.json").read_text())
    rows = json.loads((run_dir / "detections.json").read_text())
    assert len(truth["images"]) == 16 and len(truth["categories"]) == 10
    again = detection.coco_evaluate(truth, rows)
    assert again["map50"] == pytest.approx(metrics["map50"])
    assert again["map"] == pytest.approx(metrics["map"])
    # The saved detector loads in safe mode and predicts the same raw grid.
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    assert model.output.shape == (None, 7, 7, 20)
    assert isinstance(model.loss, detection.YoloLoss)
    x = np.random.default_rng(0).random((2, 56, 56, 1)).astype("float32")
    assert np.isfinite(model.predict(x, verbose=0)).all()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--stages", "1,x"], "stages"),
        (["--backbone", "resnet"], "backbone"),
        (["--dataset", "coco"], "dataset"),
        (["--grid-size", "0"], "grid_size"),
        (["--score-threshold", "2"], "score_threshold"),
        (["--image-size", "100", "--quick"], "not a multiple of grid_size=7"),
    ],
)
def test_bad_flags_are_one_line_errors(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        yolo.main([*argv, "--run-dir", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
