"""Detection scoring chunk by chunk equals pycocotools' one evaluation."""

import numpy as np
import pytest

from components import detection
from components.detection import coco_eval


def _case(images=120, classes=3, seed=0):
    """Objects of every size (COCO's small, medium and large areas), crowds,
    empty images, near and far guesses, and an image whose one class has
    more than pycocotools' 100 detections (its cut per image)."""
    rng = np.random.default_rng(seed)
    most = 8
    boxes = np.full((images, most, 4), -1.0)
    labels = np.full((images, most), -1)
    rows = []

    def row(image, label, box, score):
        x0, y0, x1, y1 = box
        return {
            "image_id": image,
            "category_id": int(label) + 1,
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "score": float(score),
        }

    for i in range(images):
        for j in range(rng.integers(0, most + 1) if i % 10 else 0):
            side = rng.choice([12, 50, 150]) * rng.uniform(0.7, 1.3, 2)
            x0, y0 = rng.uniform(0, 300, 2)
            boxes[i, j] = [x0, y0, x0 + side[0], y0 + side[1]]
            labels[i, j] = rng.integers(classes)
            for _ in range(rng.choice([0, 1, 1, 2])):
                guess = boxes[i, j] + rng.normal(0, 0.1 * side.min(), 4)
                label = labels[i, j] if rng.random() < 0.8 else rng.integers(classes)
                rows.append(row(i, label, guess, rng.random()))
        for _ in range(rng.integers(0, 3)):
            x0, y0 = rng.uniform(0, 400, 2)
            box = [x0, y0, x0 + rng.uniform(5, 60), y0 + rng.uniform(5, 60)]
            rows.append(row(i, rng.integers(classes), box, rng.random()))
    for _ in range(130):  # one image, one class: 130 guesses, 100 are scored
        x0, y0 = rng.uniform(0, 300, 2)
        rows.append(row(7, 1, [x0, y0, x0 + 40, y0 + 40], rng.random()))
    rows.append(row(3, 0, [5, 5, 20, 20], 0.5))  # ties in score across images
    rows.append(row(4, 0, [5, 5, 20, 20], 0.5))
    truth = detection.coco_ground_truth(boxes, labels, (480, 480), list("abc"))
    for annotation in truth["annotations"][::11]:
        annotation["iscrowd"] = 1
    return truth, rows


def one_pycocotools_evaluation(truth, rows):
    """pycocotools' own evaluation of all rows at once, summarized."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO()
    gt.dataset = {**truth, "info": {}, "licenses": []}
    gt.createIndex()
    evaluation = COCOeval(gt, gt.loadRes([dict(r) for r in rows]), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return evaluation


@pytest.mark.parametrize("images_per_chunk", [1, 7, 256])
def test_chunks_give_pycocotools_figures_exactly(images_per_chunk):
    truth, rows = _case()
    reference = one_pycocotools_evaluation(truth, rows)
    chunked = coco_eval.evaluate_in_chunks(
        truth, rows, images_per_chunk=images_per_chunk
    )
    chunked.accumulate()
    # Every class, IoU threshold, area and recall point, at 100 detections.
    for key in ("precision", "scores"):
        np.testing.assert_array_equal(
            chunked.eval[key][..., -1], reference.eval[key][..., -1]
        )
    np.testing.assert_array_equal(
        chunked.eval["recall"][..., -1], reference.eval["recall"][..., -1]
    )
    assert (reference.eval["precision"][..., -1] > 0).mean() > 0.3  # not trivial
    figures = detection.coco_evaluate(truth, rows)
    assert [figures["map"], figures["map50"], figures["map75"]] == pytest.approx(
        list(reference.stats[:3]), abs=1e-12
    )


def test_the_per_image_cut_at_100_detections_is_kept():
    # Without the cut inside each chunk, image 7's 130 guesses would all be
    # scored; pycocotools scores its 100 best.
    truth, rows = _case()
    extra = [r for r in rows if r["image_id"] == 7 and r["category_id"] == 2]
    assert len(extra) > 100
    merged = coco_eval.evaluate_in_chunks(truth, extra, images_per_chunk=5)
    areas = len(merged.params.areaRng)
    assert merged.evalImgs[1 * areas]["dtScores"].size == 100  # "b", area "all"


def test_bad_chunk_size_is_named():
    truth, rows = _case(images=10)
    with pytest.raises(ValueError, match="images_per_chunk"):
        coco_eval.evaluate_in_chunks(truth, rows, images_per_chunk=0)


def test_detection_rows_are_the_coco_rows_of_the_arrays_made_when_read(tmp_path):
    import json

    from recipes.run import reports

    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 50, (4, 5, 2))
    found = {
        "boxes": np.concatenate([corners, corners + 10], -1).astype("float32"),
        "scores": rng.random((4, 5)).astype("float32"),
        "labels": rng.integers(0, 3, (4, 5)).astype("int32"),
        "num_detections": np.array([2, 0, 5, 1], "int32"),
    }
    rows = detection.coco_detections(found)
    # By hand: image i's first num_detections[i] rows, in order.
    expected = []
    for i, count in enumerate(found["num_detections"]):
        for j in range(count):
            x0, y0, x1, y1 = (float(v) for v in found["boxes"][i, j])
            expected.append(
                {
                    "image_id": i,
                    "category_id": int(found["labels"][i, j]) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(found["scores"][i, j]),
                }
            )
    assert list(rows) == expected and len(rows) == 8
    assert rows[-1] == expected[-1] and rows[2:4] == expected[2:4]
    assert rows.of_images([3, 1, 0]) == expected[7:] + expected[:2]
    with pytest.raises(IndexError):
        rows[8]
    # Written a row a line, read back as the same list.
    reports.atomic_write_json(tmp_path / "d.json", rows)
    assert json.loads((tmp_path / "d.json").read_text()) == expected
    assert detection.coco_evaluate(_case()[0], []) == detection.coco_evaluate(
        _case()[0], detection.coco_detections({**found, "num_detections": [0] * 4})
    )


def test_rows_of_images_the_truth_does_not_have_are_refused():
    truth, rows = _case(images=10)
    stray = {"image_id": 12, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}
    with pytest.raises(ValueError, match="image_id \\[12\\]"):
        detection.coco_evaluate(truth, [*rows, stray])
    more = detection.coco_detections(
        {
            "boxes": np.ones((12, 1, 4), "float32"),
            "scores": np.ones((12, 1), "float32"),
            "labels": np.zeros((12, 1), "int32"),
            "num_detections": np.ones(12, "int32"),
        }
    )
    with pytest.raises(ValueError, match="2 image"):
        detection.coco_evaluate(truth, more)


def test_ap_by_size_at_cocos_edges_is_pycocotools_small_medium_and_large():
    truth, rows = _case()
    reference = one_pycocotools_evaluation(truth, rows)
    sizes = detection.ap_by_size(truth, rows, sides=(32, 96))
    assert list(sizes) == ["under_32_px", "32_96_px", "over_96_px"]
    groups = list(sizes.values())
    # summarize()'s stats[3:6]: AP of small, medium and large, IoU .50:.95.
    assert [g["map"] for g in groups] == pytest.approx(
        list(reference.stats[3:6]), abs=1e-5
    )
    for area, group in enumerate(groups, start=1):  # area 0 is "all"
        precision = reference.eval["precision"][0, :, :, area, -1]
        recall = reference.eval["recall"][0, :, area, -1]
        assert group["ap50"] == pytest.approx(
            precision[precision > -1].mean(), abs=1e-5
        )
        assert group["recall50"] == pytest.approx(recall[recall > -1].mean(), abs=1e-5)
    objects = [a for a in truth["annotations"] if not a["iscrowd"]]
    assert sum(g["objects"] for g in groups) == len(objects)
    assert min(g["objects"] for g in groups) > 20  # every group scored


def test_ap_by_size_names_bad_edges_and_groups_without_objects():
    truth, rows = _case(images=10)
    with pytest.raises(ValueError, match="sides"):
        detection.ap_by_size(truth, rows, sides=(32, 16))
    # Nothing is over 10,000 px: that group has no figures, not a zero.
    sizes = detection.ap_by_size(truth, rows, sides=(32, 10_000))
    assert sizes["over_10000_px"] == {
        "objects": 0,
        "ap50": None,
        "map": None,
        "recall50": None,
    }
