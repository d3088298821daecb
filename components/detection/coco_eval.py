"""COCO-style evaluation through pycocotools: mAP@0.5, mAP@[.5:.95], per-class AP."""

from __future__ import annotations

import contextlib
import io

import numpy as np


def coco_ground_truth(boxes, labels, image_shape, class_names):
    """Ground truth as a COCO dataset dict (category id = label + 1).

    Args:
        boxes: Array `(n_images, max_objects, 4)`, "xyxy" pixels, -1 padding.
        labels: Integer array `(n_images, max_objects)`, -1 padding.
        image_shape: `(height, width, ...)` of every image.
        class_names: Sequence of C names.

    Returns:
        A dict with `images`, `annotations` and `categories`, ready for
        `json.dump` and for `pycocotools.coco.COCO`.
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    images, annotations = [], []
    for image_id, (image_boxes, image_labels) in enumerate(zip(boxes, labels)):
        images.append({"id": image_id, "width": width, "height": height})
        for box, label in zip(image_boxes, image_labels):
            if label < 0:
                continue
            x0, y0, x1, y1 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": str(n)} for i, n in enumerate(class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_detections(detections):
    """Detections (`decode_predictions` output, as arrays) as COCO result rows."""
    rows = []
    for image_id, count in enumerate(np.asarray(detections["num_detections"])):
        for index in range(int(count)):
            x0, y0, x1, y1 = (float(v) for v in detections["boxes"][image_id][index])
            rows.append(
                {
                    "image_id": image_id,
                    "category_id": int(detections["labels"][image_id][index]) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(detections["scores"][image_id][index]),
                }
            )
    return rows


def coco_evaluate(ground_truth, detections):
    """Scores COCO detections against COCO ground truth with pycocotools.

    Args:
        ground_truth: Dict from `coco_ground_truth` (or any COCO dataset dict).
        detections: List of result rows (`coco_detections`).

    Returns:
        A dict: `map` (AP averaged over IoU 0.50:0.95, pycocotools' first
        figure), `map50`, `map75`, and `per_class_ap` / `per_class_ap50`
        keyed by category name (NaN for a class with no ground truth).

    Example:

    >>> gt = coco_ground_truth([[[0, 0, 10, 10]]], [[0]], (32, 32), ["a"])
    >>> rows = [{"image_id": 0, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 1.0}]
    >>> round(coco_evaluate(gt, rows)["map50"], 6)
    1.0
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = {c["id"]: c["name"] for c in ground_truth["categories"]}
    empty = {
        "map": 0.0,
        "map50": 0.0,
        "map75": 0.0,
        "per_class_ap": {n: 0.0 for n in names.values()},
        "per_class_ap50": {n: 0.0 for n in names.values()},
    }
    if not detections or not ground_truth["annotations"]:
        return empty
    quiet = io.StringIO()  # pycocotools prints its progress and table
    with contextlib.redirect_stdout(quiet):
        truth = COCO()
        truth.dataset = {**ground_truth, "info": {}, "licenses": []}
        truth.createIndex()
        results = truth.loadRes([dict(row) for row in detections])
        evaluation = COCOeval(truth, results, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    # precision: [IoU thresholds, recall points, categories, areas, max dets];
    # area "all" and the largest max-detections, as in `stats[0]`.
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    per_class, per_class50 = {}, {}
    for k, category in enumerate(evaluation.params.catIds):
        values = precision[:, :, k]
        per_class[names[category]] = _mean(values)
        per_class50[names[category]] = _mean(values[0])
    return {
        "map": float(evaluation.stats[0]),
        "map50": float(evaluation.stats[1]),
        "map75": float(evaluation.stats[2]),
        "per_class_ap": per_class,
        "per_class_ap50": per_class50,
    }


def _mean(values):
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else float("nan")
