import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from components import detection, serving
from recipes import yolo
from recipes.run import flags
from tests.recipes.run_checks import assert_same_detections

# The notes' first sanity check: 8 canvases, no augmentation, 80 steps,
# scored on those same canvases (measured: mAP@0.5 0.99; 0.93 after 60 steps). A broken target
# encoding, loss or decoding stays far below the bar.
TINY = [
    "--quick",
    "--image-size",
    "56",
    "--stages",
    "1,1,1",
    "--train-images",
    "64",
    "--overfit-subset",
    "8",
    "--epochs",
    "80",
    "--batch-size",
    "8",
    "--head-width",
    "64",
    "--verbose",
    "0",
]
OVERFIT_MAP50 = 0.9


def test_overfits_a_handful_of_canvases_and_writes_coco_files_that_rescore(tmp_path):
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
        "targets.png",
    ):
        assert (run_dir / name).exists(), name
    # The loss, term by term, on the test canvases: the paper's five terms,
    # none negative, adding up to the loss Keras evaluates.
    terms = metrics["loss_terms"]
    assert sorted(terms) == ["classes", "coordinates", "no_object", "object", "sizes"]
    assert all(v >= 0 for v in terms.values())
    assert sum(terms.values()) == pytest.approx(metrics["test_loss"], rel=1e-3)
    assert metrics["map50"] >= OVERFIT_MAP50, metrics["per_class_ap50"]
    assert metrics["test_images"] == 8 and metrics["test_objects"] >= 8
    truth = json.loads((run_dir / "ground_truth.json").read_text())
    rows = json.loads((run_dir / "detections.json").read_text())
    assert len(truth["images"]) == 8 and len(truth["categories"]) == 10
    again = detection.coco_evaluate(truth, rows)
    assert again["map50"] == pytest.approx(metrics["map50"])
    assert again["map"] == pytest.approx(metrics["map"])
    # The saved detector decodes: loaded in safe mode, the detector inside
    # gives the boxes the recipe scored on the test canvases; the model
    # itself takes them as raw uint8 pixels, and the export serves the same.
    # (tests/recipes/test_predict.py checks boxes on images of other sizes.)
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    info = serving.serving_info(model)
    assert info["class_names"] == tuple("0123456789") and info["kind"] == "detector"
    config, _ = flags.parse_config(yolo.Config, TINY, "", "", yolo.QUICK)
    images = yolo.ground_truth(yolo.load_splits(config), "test")[0]
    again = detection.coco_detections(info["network"].predict(images, verbose=0))
    assert len(again) == len(rows) > 0
    np.testing.assert_allclose(
        [r["bbox"] for r in again], [r["bbox"] for r in rows], atol=1e-3
    )
    raw = np.round(images * 255).astype("uint8")
    expected = info["network"].predict(raw / 255.0, verbose=0)
    predicted = model.predict(raw, verbose=0)
    assert_same_detections(predicted, expected, atol=1e-3)
    model.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))  # kept: it owns the weights
    boxes = served.serve(raw)["boxes"].numpy()
    np.testing.assert_allclose(boxes, predicted["boxes"], atol=1e-4)


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
