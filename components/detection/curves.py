"""Detection analysis as Ultralytics shows it: P, R and F1 against confidence,
precision-recall curves with AP, and a confusion matrix with a background class.

Inputs are COCO dicts and result rows (`coco_ground_truth`, `coco_detections`);
class k is the k-th ground-truth category in id order.
"""

from __future__ import annotations

import numpy as np

from components.checks import check_positive_int, invalid_value

_CURVE_KEYS = ("confidence", "f1", "pr_recall", "pr_precision", "ap", "class_names")


def operating_curves(ground_truth, detections, iou_threshold=0.5, points=1000):
    """Per-class precision, recall and F1 against the confidence threshold.

    A detection is a true positive iff pycocotools matches it at
    `iou_threshold` (area "all", at most 100 detections per image and class;
    crowd objects and the detections they absorb are ignored, as in COCO).
    A detection is kept at confidence `c` when its score >= `c`. Where nothing
    is kept precision is 1.0 (Ultralytics' convention), so with no detections
    at all precision is 1, recall and F1 are 0 and `best_confidence` is 0.0.
    A class with no ground truth gets NaN rows and AP, and is left out of the
    means; with no such class at all the `*_at_best` means are NaN.

    Args:
        ground_truth: COCO dataset dict (`coco_ground_truth`).
        detections: List of COCO result rows (`coco_detections`).
        iou_threshold: Float in (0, 1], the IoU a match needs.
        points: Integer >= 2, confidences sampled evenly in [0, 1].

    Returns:
        A dict: `confidence` `(points,)`; `precision`, `recall`, `f1`
        `(C, points)`; `pr_recall`, `pr_precision` (per class, one point per
        detection by falling score, precision as COCO's non-increasing
        envelope); `ap` `(C,)`, COCO's 101-point AP at `iou_threshold`;
        `class_names`; `iou_threshold`; `best_confidence` (maximizing the
        mean F1, lowest on ties) and the means `precision_at_best`,
        `recall_at_best`, `f1_at_best` there.

    Example:

    >>> from components.detection.coco_eval import coco_ground_truth
    >>> gt = coco_ground_truth([[[0, 0, 10, 10]]], [[0]], (32, 32), ["a"])
    >>> rows = [{"image_id": 0, "category_id": 1, "bbox": [0, 0, 10, 9], "score": 0.8}]
    >>> curves = operating_curves(gt, rows, points=11)
    >>> curves["recall"][0, [8, 9]].tolist(), round(float(curves["ap"][0]), 6)
    ([1.0, 0.0], 1.0)
    """
    _check_fraction("iou_threshold", iou_threshold)
    check_positive_int("points", points, minimum=2)
    category_ids, names = _categories(ground_truth, detections)
    confidence = np.linspace(0.0, 1.0, points)
    shape = (len(category_ids), points)
    precision, recall = np.ones(shape), np.zeros(shape)
    ap = np.full(len(category_ids), np.nan)
    pr_recall, pr_precision = [], []
    for k, (scores, tps, n_truth, thresholds) in enumerate(
        _matches(ground_truth, detections, category_ids, iou_threshold)
    ):
        if n_truth == 0:
            precision[k] = recall[k] = np.nan
            pr_recall.append(np.zeros(0))
            pr_precision.append(np.zeros(0))
            continue
        true_sum = np.concatenate([[0.0], np.cumsum(tps)])
        kept = scores.size - np.searchsorted(scores[::-1], confidence, side="left")
        recall[k] = true_sum[kept] / n_truth
        precision[k] = np.divide(
            true_sum[kept], kept, out=np.ones(points), where=kept > 0
        )
        # pycocotools' arithmetic, step by step, so that AP equals its figure.
        rc = true_sum[1:] / n_truth
        pr = true_sum[1:] / (np.arange(1, scores.size + 1) + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1]
        ap[k] = _interpolated(rc, pr, thresholds).mean()
        pr_recall.append(rc)
        pr_precision.append(pr)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(shape), where=total > 0)
    f1[np.isnan(total)] = np.nan
    valid = ~np.isnan(ap)
    mean_f1 = f1[valid].mean(0) if valid.any() else np.zeros(points)
    best = int(np.argmax(mean_f1))

    def at_best(values):
        return float(values[valid, best].mean()) if valid.any() else float("nan")

    return {
        "confidence": confidence,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "pr_recall": pr_recall,
        "pr_precision": pr_precision,
        "ap": ap,
        "class_names": names,
        "iou_threshold": float(iou_threshold),
        "best_confidence": float(confidence[best]),
        "precision_at_best": at_best(precision),
        "recall_at_best": at_best(recall),
        "f1_at_best": at_best(f1),
    }


def confusion_matrix(
    ground_truth, detections, score_threshold=0.25, iou_threshold=0.45
):
    """Counts of predicted against true classes, with a background class.

    Ultralytics' convention: `matrix[predicted, true]`, index C is
    "background". Per image, detections scoring above `score_threshold` and
    the objects (crowd ones left out) are paired one-to-one, class-agnostic,
    greedily by falling IoU among pairs with IoU >= `iou_threshold`. A pair
    counts at `[predicted class, true class]`, an unpaired detection at
    `[predicted class, C]` and an unpaired object at `[C, true class]`.

    Args:
        ground_truth: COCO dataset dict (`coco_ground_truth`).
        detections: List of COCO result rows (`coco_detections`).
        score_threshold: Float in [0, 1]; lower or equal scores are dropped.
        iou_threshold: Float in (0, 1], the IoU a pair needs.

    Returns:
        An integer array `(C + 1, C + 1)`.

    Example:

    >>> from components.detection.coco_eval import coco_ground_truth
    >>> gt = coco_ground_truth([[[0, 0, 10, 10]]], [[0]], (32, 32), ["a", "b"])
    >>> rows = [{"image_id": 0, "category_id": 2, "bbox": [0, 0, 10, 9], "score": 0.8}]
    >>> confusion_matrix(gt, rows)[:, 0].tolist()  # the "a" was called "b"
    [0, 1, 0]
    """
    _check_fraction("score_threshold", score_threshold, zero=True)
    _check_fraction("iou_threshold", iou_threshold)
    category_ids, _ = _categories(ground_truth, detections)
    index = {c: k for k, c in enumerate(category_ids)}
    background = len(category_ids)
    matrix = np.zeros((background + 1, background + 1), dtype=np.int64)
    objects = {image["id"]: [] for image in ground_truth["images"]}
    for a in ground_truth["annotations"]:
        if not a.get("iscrowd", 0):
            objects[a["image_id"]].append((a["bbox"], index[a["category_id"]]))
    found = {image_id: [] for image_id in objects}
    for row in detections:
        if row["score"] > score_threshold:
            found[row["image_id"]].append((row["bbox"], index[row["category_id"]]))
    for image_id, truths in objects.items():
        predictions = found[image_id]
        overlap = _iou([b for b, _ in predictions], [b for b, _ in truths])
        pairs = np.argwhere(overlap >= iou_threshold)
        order = np.argsort(-overlap[tuple(pairs.T)], kind="stable")
        paired, taken = {}, set()
        for p, t in pairs[order]:
            if p not in paired and t not in taken:
                paired[p] = t
                taken.add(t)
        for p, (_, label) in enumerate(predictions):
            matrix[label, truths[paired[p]][1] if p in paired else background] += 1
        for t, (_, label) in enumerate(truths):
            if t not in taken:
                matrix[background, label] += 1
    return matrix


def plot_pr_curves(curves, path):
    """Draws each class's precision-recall curve and their mean to `path`.

    Args:
        curves: Dict from `operating_curves`.
        path: Where the PNG goes.

    Example:

    >>> import os, tempfile
    >>> from components.detection.coco_eval import coco_ground_truth
    >>> gt = coco_ground_truth([[[0, 0, 10, 10]]], [[0]], (32, 32), ["a"])
    >>> rows = [{"image_id": 0, "category_id": 1, "bbox": [0, 0, 10, 9], "score": 0.8}]
    >>> path = os.path.join(tempfile.mkdtemp(), "pr.png")
    >>> plot_pr_curves(operating_curves(gt, rows, points=11), path)
    >>> os.path.getsize(path) > 0
    True
    """
    _check_curves(curves)
    plt = _pyplot()
    grid = np.linspace(0.0, 1.0, 1001)
    valid = ~np.isnan(curves["ap"])
    fig, ax = plt.subplots(figsize=(7, 5))
    few = len(curves["class_names"]) <= 20
    means = []
    for name, rc, pr, ap in zip(
        curves["class_names"], curves["pr_recall"], curves["pr_precision"], curves["ap"]
    ):
        if pr.size:  # a step at each detection, COCO's envelope, from recall 0
            label = f"{name} {ap:.3f}" if few else None
            ax.step(np.r_[0, rc], np.r_[pr[0], pr], lw=1, label=label, **_grey(few))
        if not np.isnan(ap):
            means.append(_interpolated(rc, pr, grid))
    mean_ap = float(curves["ap"][valid].mean()) if valid.any() else float("nan")
    iou = curves.get("iou_threshold", 0.5)
    if means:
        label = f"all classes {mean_ap:.3f} mAP@{iou:g}"
        ax.plot(grid, np.mean(means, 0), lw=3, c="b", label=label)
    title = f"Precision-recall, mAP@{iou:g} = {mean_ap:.3f}"
    _finish(plt, fig, ax, path, "recall", "precision", title)


def plot_f1_curves(curves, path):
    """Draws F1 against confidence per class and the mean, best point marked.

    Args:
        curves: Dict from `operating_curves`.
        path: Where the PNG goes.

    Example:

    >>> import os, tempfile
    >>> from components.detection.coco_eval import coco_ground_truth
    >>> gt = coco_ground_truth([[[0, 0, 10, 10]]], [[0]], (32, 32), ["a"])
    >>> path = os.path.join(tempfile.mkdtemp(), "f1.png")
    >>> plot_f1_curves(operating_curves(gt, [], points=11), path)
    >>> os.path.getsize(path) > 0
    True
    """
    _check_curves(curves)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    x, few = curves["confidence"], len(curves["class_names"]) <= 20
    for name, f1 in zip(curves["class_names"], curves["f1"]):
        if not np.isnan(f1).all():
            ax.plot(x, f1, lw=1, label=name if few else None, **_grey(few))
    valid = ~np.isnan(curves["ap"])
    if valid.any():
        best, f1_best = curves["best_confidence"], curves["f1_at_best"]
        label = f"all classes {f1_best:.2f} at {best:.3f}"
        ax.plot(x, curves["f1"][valid].mean(0), lw=3, c="b", label=label)
        ax.plot([best], [f1_best], "o", color="red")
        ax.axvline(best, color="red", ls="--", lw=1)
    _finish(plt, fig, ax, path, "confidence", "F1", "F1 against confidence")


def plot_confusion_matrix(matrix, class_names, path, normalize=True):
    """Draws `matrix[predicted, true]` (`confusion_matrix`) to `path`.

    Args:
        matrix: Array `(C + 1, C + 1)`, the last row and column "background".
        class_names: Sequence of the C class names.
        path: Where the PNG goes.
        normalize: Divide each column (true class) by its sum, showing
            fractions; empty columns stay 0.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "confusion.png")
    >>> plot_confusion_matrix(np.array([[3, 1], [2, 0]]), ["a"], path)
    >>> os.path.getsize(path) > 0
    True
    """
    matrix = np.asarray(matrix, dtype="float64")
    size = len(class_names) + 1
    if matrix.shape != (size, size) or not np.all(matrix >= 0):
        expected = f"counts >= 0 of shape {(size, size)}: len(class_names) + 1"
        raise ValueError(invalid_value("matrix", f"shape {matrix.shape}", expected))
    if normalize:
        sums = matrix.sum(0, keepdims=True)
        matrix = np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)
    plt = _pyplot()
    labels = [*map(str, class_names), "background"]
    side = min(4 + 0.5 * size, 20)
    fig, ax = plt.subplots(figsize=(side, side * 0.85))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(size), labels, rotation=90)
    ax.set_yticks(range(size), labels)
    if size <= 31:  # beyond 30 classes the numbers no longer fit their cells
        for (i, j), value in np.ndenumerate(matrix):
            if value:
                text = f"{value:.2f}" if normalize else f"{int(value)}"
                dark = value > 0.6 * matrix.max()
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    c="w" if dark else "k",
                )
    title = "Confusion matrix" + (" (columns normalized)" if normalize else "")
    _finish(plt, fig, ax, path, "true", "predicted", title, legend=False)


def _check_fraction(name, value, zero=False):
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not (0 <= value if zero else 0 < value) or value > 1:
        expected = "a float in [0, 1]" if zero else "a float in (0, 1]"
        raise ValueError(invalid_value(name, value, expected))


def _categories(ground_truth, detections):
    keys = {"images", "annotations", "categories"}
    if not isinstance(ground_truth, dict) or not keys <= set(ground_truth):
        expected = "a COCO dataset dict with `images`, `annotations`, `categories`"
        raise ValueError(invalid_value("ground_truth", type(ground_truth), expected))
    category_ids = sorted(c["id"] for c in ground_truth["categories"])
    names = {c["id"]: str(c["name"]) for c in ground_truth["categories"]}
    images = {image["id"] for image in ground_truth["images"]}
    for row in detections:
        if row.get("image_id") not in images or row.get("category_id") not in names:
            expected = "rows whose image_id and category_id are in `ground_truth`"
            raise ValueError(invalid_value("detections", row, expected))
    return category_ids, tuple(names[c] for c in category_ids)


def _matches(ground_truth, detections, category_ids, iou_threshold):
    """Yields per class: scores by falling score, their TP flags, the number
    of non-ignored objects and COCO's recall thresholds."""
    from components.detection.coco_eval import evaluate_in_chunks

    evaluation = evaluate_in_chunks(
        ground_truth, detections, iou_thresholds=[iou_threshold], all_areas_only=True
    )
    thresholds = evaluation.params.recThrs
    for k in range(len(category_ids)):
        record = evaluation.evalImgs[k]  # one merged record per class (area "all")
        if record is None:
            yield np.zeros(0), np.zeros(0), 0, thresholds
            continue
        scores = record["dtScores"]
        # mergesort: ties keep the order pycocotools' accumulate() gives them.
        order = np.argsort(-scores, kind="mergesort")
        kept = ~record["dtIgnore"][0][order]
        yield (
            scores[order][kept],
            record["dtMatches"][0][order][kept].astype(float),
            int(np.count_nonzero(~record["gtIgnore"])),
            thresholds,
        )


def _iou(first, second):
    """IoU matrix between two lists of COCO `[x, y, w, h]` boxes."""
    a = np.asarray(first, dtype="float64").reshape(-1, 4)
    b = np.asarray(second, dtype="float64").reshape(-1, 4)
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=-1)
    union = np.prod(a[:, 2:], -1)[:, None] + np.prod(b[:, 2:], -1)[None] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _interpolated(rc, pr, grid):
    # COCO's reading of a PR curve: the envelope at the first recall >= r.
    if not pr.size:
        return np.zeros_like(grid)
    at = np.searchsorted(rc, grid, side="left")
    return np.where(at < pr.size, pr[np.minimum(at, pr.size - 1)], 0.0)


def _check_curves(curves):
    if not isinstance(curves, dict) or not set(_CURVE_KEYS) <= set(curves):
        expected = "the dict `operating_curves` returns"
        raise ValueError(invalid_value("curves", type(curves), expected))


def _grey(few):
    # Past 20 classes a legend would hide the plot: plain grey lines instead.
    return {} if few else {"color": "grey"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(plt, fig, ax, path, xlabel, ylabel, title, legend=True):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend:
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
