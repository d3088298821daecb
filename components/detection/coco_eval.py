"""COCO-style evaluation through pycocotools: mAP@0.5, mAP@[.5:.95], per-class AP,
AP by object size."""

from __future__ import annotations

import collections.abc
import contextlib
import copy
import io

import numpy as np

from components.checks import check_positive_int

# Images scored per pycocotools call (`evaluate_in_chunks`): a few MiB of
# detections at a time, and few enough calls that their overhead is noise.
IMAGES_PER_CHUNK = 256
# Two strides of the dense detector's finest level (8 px): under it an
# object covers at most a few of the locations that can answer for it.
# The data summary (components.data.object_sizes) counts objects under it.
# It lives here, not there, because components.detection must import
# without TensorFlow and components.data does not.
SMALL_SIDE = 16.0
# Edges between the size groups of `ap_by_size`, in pixels: the small
# objects above, then COCO's "small" edge.
SIZE_EDGES = (SMALL_SIDE, 32.0)
# The merged records' "max detections": larger than any record, so that
# accumulate() cuts nothing (each image was cut to pycocotools' 100 already).
_NO_CUT = 2**62


def coco_ground_truth(boxes, labels, image_shape, class_names, images=None):
    """Ground truth as a COCO dataset dict (category id = label + 1).

    Args:
        boxes: Array `(n_images, max_objects, 4)`, "xyxy" pixels, -1 padding.
        labels: Integer array `(n_images, max_objects)`, -1 padding.
        image_shape: `(height, width, ...)` of every image.
        class_names: Sequence of C names.
        images: Optional sequence of one dict per image (`file_name`,
            `width`, `height`: its own, where the boxes are in its pixels),
            replacing `image_shape` in the `images` entries.

    Returns:
        A dict with `images`, `annotations` and `categories`, ready for
        `json.dump` and for `pycocotools.coco.COCO`.
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    own = None if images is None else list(images)
    images, annotations = [], []
    for image_id, (image_boxes, image_labels) in enumerate(zip(boxes, labels)):
        entry = {"id": image_id, "width": width, "height": height}
        if own is not None:
            entry.update(own[image_id])
        images.append(entry)
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
    """Detections (`decode_predictions` output, as arrays) as COCO result rows.

    Returns:
        A `DetectionRows`: a sequence of COCO result dicts (`image_id`,
        `category_id` = label + 1, `bbox` as `[x, y, w, h]`, `score`), each
        made when it is read, so that a large test split's detections stay
        arrays (a Python dict per detection took about 450 bytes).

    Example:

    >>> rows = coco_detections({"boxes": [[[1, 2, 5, 8]]], "scores": [[0.5]],
    ...                         "labels": [[0]], "num_detections": [1]})
    >>> len(rows), rows[0]["bbox"], rows[0]["category_id"]
    (1, [1.0, 2.0, 4.0, 6.0], 1)
    """
    return DetectionRows(detections)


class DetectionRows(collections.abc.Sequence):
    """COCO result rows over detection arrays (see `coco_detections`)."""

    def __init__(self, detections):
        counts = np.asarray(detections["num_detections"]).astype("int64").reshape(-1)
        images = np.repeat(np.arange(len(counts)), counts)
        within = np.arange(len(images)) - np.repeat(np.cumsum(counts) - counts, counts)
        self._image_ids = images
        self._boxes = np.asarray(detections["boxes"])[images, within]
        self._labels = np.asarray(detections["labels"])[images, within]
        self._scores = np.asarray(detections["scores"])[images, within]
        self._starts = np.concatenate([[0], np.cumsum(counts)])

    def __len__(self):
        return len(self._image_ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(f"row {index} of {len(self)}")
        return self._row(index % len(self))

    def __iter__(self):
        return (self._row(i) for i in range(len(self)))

    def _row(self, i):
        x0, y0, x1, y1 = (float(v) for v in self._boxes[i])
        return {
            "image_id": int(self._image_ids[i]),
            "category_id": int(self._labels[i]) + 1,
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "score": float(self._scores[i]),
        }

    @property
    def image_ids(self):
        """The ids of the images with at least one detection."""
        return {int(i) for i in np.unique(self._image_ids)}

    def of_images(self, image_ids):
        """The rows of these images (ids of the arrays' image axis)."""
        return [
            self._row(i)
            for image in image_ids
            if 0 <= image < len(self._starts) - 1
            for i in range(self._starts[image], self._starts[image + 1])
        ]


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
    # Every figure here is of the area range "all": the others are not scored.
    evaluation = evaluate_in_chunks(ground_truth, detections, all_areas_only=True)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' progress
        evaluation.accumulate()
    # precision: [IoU thresholds, recall points, categories, areas, max dets];
    # area "all" and the largest max-detections, as in `stats[0]`.
    precision = evaluation.eval["precision"][:, :, :, 0, -1]
    thresholds = evaluation.params.iouThrs
    per_class, per_class50 = {}, {}
    for k, category in enumerate(evaluation.params.catIds):
        values = precision[:, :, k]
        per_class[names[category]] = _mean(values)
        per_class50[names[category]] = _mean(values[0])
    # pycocotools' summarize(): -1 where nothing is scored.
    figures = [
        _mean(precision[np.isclose(thresholds, t)] if t else precision)
        for t in (None, 0.5, 0.75)
    ]
    figures = [-1.0 if np.isnan(v) else v for v in figures]
    return {
        "map": figures[0],
        "map50": figures[1],
        "map75": figures[2],
        "per_class_ap": per_class,
        "per_class_ap50": per_class50,
    }


def ap_by_size(ground_truth, detections, sides=SIZE_EDGES):
    """AP of the objects grouped by size, with pycocotools' area ranges.

    A size is the square root of the box's area (its side, for a square),
    as pycocotools measures it; `sides` are the edges between the groups,
    in pixels of the images the boxes are in. pycocotools scores each group
    as COCO's small / medium / large: objects of the other groups, and
    unmatched detections of their sizes, are ignored.

    Args:
        ground_truth: Dict from `coco_ground_truth`.
        detections: List of COCO result rows.
        sides: Increasing positive floats.

    Returns:
        A dict from each group's name (`"under_16_px"`, `"16_32_px"`,
        `"over_32_px"` for the default edges) to its `objects` count,
        `ap50`, `map` (over IoU 0.50:0.95) and `recall50` (the share of its
        objects found at IoU 0.5 at any score); the figures are `None` for a
        group without objects.

    Example:

    >>> gt = coco_ground_truth([[[0, 0, 8, 8], [0, 0, 40, 40]]], [[0, 0]],
    ...                        (64, 64), ["a"])
    >>> rows = [{"image_id": 0, "category_id": 1, "bbox": [0, 0, 40, 40],
    ...          "score": 1.0}]
    >>> sizes = ap_by_size(gt, rows)
    >>> sizes["under_16_px"]["recall50"], sizes["over_32_px"]["ap50"]
    (0.0, 1.0)
    """
    edges = [float(v) for v in sides]
    if not edges or min(edges) <= 0 or edges != sorted(set(edges)):
        raise ValueError(
            f"`sides` must be increasing positive sizes in pixels; received {sides!r}."
        )
    bounds = [0.0, *edges, float("inf")]
    names = [f"under_{edges[0]:g}_px"]
    names += [f"{a:g}_{b:g}_px" for a, b in zip(edges, edges[1:])]
    names += [f"over_{edges[-1]:g}_px"]
    # pycocotools ignores an object whose area is outside [low, high].
    ranges = [[lo * lo, min(hi * hi, 1e10)] for lo, hi in zip(bounds, bounds[1:])]
    evaluation = evaluate_in_chunks(ground_truth, detections, area_ranges=ranges)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' progress
        evaluation.accumulate()
    out = {}
    for a, name in enumerate(names):
        # The objects pycocotools scored in the group (crowds never count).
        records = evaluation.evalImgs[a :: len(ranges)]
        count = sum(int((~r["gtIgnore"]).sum()) for r in records if r is not None)
        precision = evaluation.eval["precision"][:, :, :, a, -1]
        recall = evaluation.eval["recall"][:, :, a, -1]
        figures = (_mean(precision[0]), _mean(precision), _mean(recall[0]))
        out[name] = {
            "objects": count,
            **{
                key: round(value, 5) if count else None
                for key, value in zip(("ap50", "map", "recall50"), figures)
            },
        }
    return out


def evaluate_in_chunks(
    ground_truth,
    detections,
    iou_thresholds=None,
    all_areas_only=False,
    images_per_chunk=IMAGES_PER_CHUNK,
    area_ranges=None,
):
    """pycocotools' `COCOeval.evaluate()`, a chunk of images at a time.

    One `evaluate()` over a whole test split holds every detection as a
    Python dict (with a polygon), every IoU matrix and every per-image
    record at once: hundreds of MiB at a few thousand images. Here each
    chunk is evaluated and reduced to what `accumulate()` reads, each
    class's and area's records concatenated over the images in pycocotools'
    order (by image id); memory then grows with the detections' scores and
    match flags only. The per-image cut to `maxDets[-1]` detections happens
    in each chunk (pycocotools' 100), so `accumulate()` gives pycocotools'
    figures at that maximum, the one its mAP figures use (the smaller
    maximums are not scored).

    Args:
        ground_truth: COCO dataset dict (`coco_ground_truth`).
        detections: List of COCO result rows.
        iou_thresholds: Optional IoU thresholds (pycocotools' ten by default).
        all_areas_only: Whether to score only the area range "all".
        images_per_chunk: Positive integer.
        area_ranges: Optional `[[low, high], ...]` areas in pixels, scored
            instead of pycocotools' all / small / medium / large.

    Returns:
        A `COCOeval` ready for `accumulate()`: its `evalImgs` hold one merged
        record per class and area range, its `params` one max-detections.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    check_positive_int("images_per_chunk", images_per_chunk)
    if isinstance(detections, DetectionRows):
        rows_of = detections.of_images  # made a chunk at a time
        detected = detections.image_ids
    else:
        by_image = {}
        for row in detections:
            by_image.setdefault(row["image_id"], []).append(row)

        def rows_of(chunk):
            return [dict(r) for i in chunk for r in by_image.get(i, [])]

        detected = set(by_image)
    # Chunks draw the rows of the truth's images only: rows of any other
    # image would be left out without a word (one evaluate() refused them).
    unknown = set(detected) - {image["id"] for image in ground_truth["images"]}
    if unknown:
        raise ValueError(
            f"`detections` has rows of {len(unknown)} image(s) that `ground_truth` "
            f"does not have (image_id {sorted(unknown)[:5]}...); expected the "
            "image ids of the ground truth."
        )

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools' progress
        truth = COCO()
        truth.dataset = {**ground_truth, "info": {}, "licenses": []}
        truth.createIndex()
        evaluation = COCOeval(truth, COCO(), "bbox")
        params = evaluation.params
        if iou_thresholds is not None:
            params.iouThrs = np.asarray(iou_thresholds, "float64")
        if all_areas_only:
            params.areaRng, params.areaRngLbl = params.areaRng[:1], ["all"]
        elif area_ranges is not None:
            params.areaRng = [list(map(float, r)) for r in area_ranges]
            params.areaRngLbl = [f"range{i}" for i in range(len(area_ranges))]
        image_ids = sorted(truth.getImgIds())
        merged = {}
        for start in range(0, len(image_ids), images_per_chunk):
            chunk = image_ids[start : start + images_per_chunk]
            rows = rows_of(chunk)
            # loadRes cannot read an empty list; then every record is gt-only.
            part = COCOeval(truth, truth.loadRes(rows) if rows else COCO(), "bbox")
            part.params.iouThrs, part.params.areaRng = params.iouThrs, params.areaRng
            part.params.areaRngLbl, part.params.imgIds = params.areaRngLbl, chunk
            part.evaluate()
            count = len(chunk)
            for k in range(len(params.catIds)):
                for a in range(len(params.areaRng)):
                    first = (k * len(params.areaRng) + a) * count
                    records = part.evalImgs[first : first + count]
                    chunk_record = _merge(list(_compact(records)))
                    if chunk_record is not None:
                        merged.setdefault((k, a), []).append(chunk_record)
            del part  # its detections and IoU matrices, before the next chunk
    # One "image" holding each class's and area's records, and one maximum:
    # accumulate() concatenates them exactly as it would the images'.
    params.imgIds, params.maxDets = [image_ids[0] if image_ids else 0], [_NO_CUT]
    evaluation.evalImgs = [
        _merge(merged.pop((k, a), []))
        for k in range(len(params.catIds))
        for a in range(len(params.areaRng))
    ]
    evaluation._paramsEval = copy.deepcopy(params)
    return evaluation


def _compact(records):
    """What `accumulate()` reads of each record; matches as flags (it tests
    them for truth only)."""
    for e in records:
        if e is not None:
            yield {
                "dtScores": np.asarray(e["dtScores"], "float64"),
                "dtMatches": np.asarray(e["dtMatches"]) != 0,
                "dtIgnore": np.asarray(e["dtIgnore"], bool),
                "gtIgnore": np.asarray(e["gtIgnore"], bool),
            }


def _merge(records):
    """Records concatenated along their detections and objects, in order."""
    if not records:
        return None
    return {
        key: np.concatenate([r[key] for r in records], axis=axis)
        for key, axis in (
            ("dtScores", 0),
            ("dtMatches", 1),
            ("dtIgnore", 1),
            ("gtIgnore", 0),
        )
    }


def _mean(values):
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else float("nan")
