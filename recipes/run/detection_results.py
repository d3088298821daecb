"""What a detection run leaves, in the files Ultralytics users look for:
`results.csv` (a row per epoch: the loss and its terms, validation
precision, recall, mAP@0.5, mAP@[.5:.95], the learning rate), the COCO
files, `metrics.json`, the pictures and the closing report. The history
file is read here, once."""

from __future__ import annotations

import csv
import math

from components import detection, serving
from components.detection.validation import read_rows
from recipes.run import reports
from recipes.run.detection_pictures import (
    plot_gallery,
    plot_label_pairs,
    plot_results,
    plot_test_curves,
)
from recipes.run.detection_scoring import coco_files

# (history.csv column, results.csv column)
COLUMNS = (
    ("loss", "loss"),
    ("val_loss", "val_loss"),
    ("val_precision", "precision"),
    ("val_recall", "recall"),
    ("val_map50", "map50"),
    ("val_map", "map"),
    ("learning_rate", "learning_rate"),
)


def write_results(history, path):
    """`results.csv` from the run's CSV history: `epoch` (counted from 1),
    then the columns of `COLUMNS` it holds (empty where an epoch was not
    validated). Returns the rows as dicts of floats."""
    rows = []
    # A detector's loss terms (`boxes_loss`, `val_boxes_loss`...), after the
    # total losses, in the order the history holds them.
    keys = list(history[0]) if history else []
    terms = [k for k in keys if k.endswith("_loss") and k not in ("loss", "val_loss")]
    columns = (*COLUMNS[:2], *((k, k) for k in terms), *COLUMNS[2:])
    for row in history:
        out = {"epoch": int(row["epoch"]) + 1}
        for key, name in columns:
            if key in row:
                out[name] = _float(row[key])
        rows.append(out)
    names = ["epoch", *[n for _, n in columns if rows and n in rows[0]]]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        for row in rows:
            writer.writerow(
                [
                    "" if isinstance(v, float) and math.isnan(v) else v
                    for v in (row[n] for n in names)
                ]
            )
    return rows


def finish(
    run,
    splits,
    model,
    test,
    detections,
    *,
    extra,
    curves,
    title,
    validation=None,
    scored="model.keras",
):
    """Scores the detections with pycocotools, writes every artifact, reports.

    Args:
        run: The `run.Run`.
        splits: `DetectionSplits`.
        model: The trained model, decoding included (saved as `model.keras`
            behind raw-image preprocessing, with the class names).
        test: The test split's `EvaluationSplit`.
        detections: Dict of `decode_predictions` arrays for the test images,
            from the model `scored` names (see `best_weights`).
        extra: Dict of recipe figures (timings...) added to `metrics.json`.
        curves: History keys to plot in `curves.png`.
        title: Name of the detector in the report.
        validation: Optional `Validation` of the training: `results.csv`,
            `results.png`, `val_predictions.png` and the best epoch.
        scored: `"best.keras"` or `"model.keras"`: the saved model whose
            test detections these are (`metrics.json`'s `scored_model`).

    Returns:
        The metrics dict (also in `metrics.json`).
    """
    boxes, labels = test.boxes, test.labels
    truth, rows = coco_files(splits, "test", boxes, labels, detections)
    scores = detection.coco_evaluate(truth, rows)
    extra = {**extra, "train_seconds": round(run.train_seconds, 1)}
    history = read_rows(run.file("history.csv"))  # the one read of it
    metrics = {
        "dataset": splits.name,
        "map50": scores["map50"],
        "map": scores["map"],
        "map75": scores["map75"],
        "per_class_ap50": scores["per_class_ap50"],
        "per_class_ap": scores["per_class_ap"],
        "scored_model": scored,
        "test_images": int(test.count),
        "test_objects": int((labels >= 0).sum()),
        # The epochs run: a `--time` run plans its own below `--epochs`.
        "epochs": len(history) or run.config.epochs,
        "parameters": int(model.count_params()),
        **extra,
    }
    run.write_json("ground_truth.json", truth)
    run.write_json("detections.json", rows)
    operating = plot_test_curves(truth, rows, run.file)
    metrics["precision"] = round(float(operating["precision_at_best"]), 5)
    metrics["recall"] = round(float(operating["recall_at_best"]), 5)
    # By size at the network's input: the pixels the detector saw, and the
    # sizes that the data summary and `--image-size` speak of.
    metrics["by_size"] = detection.ap_by_size(
        detection.coco_ground_truth(
            boxes, labels, splits.image_shape, splits.class_names
        ),
        detection.coco_detections(detections),
    )
    lines = [size_line(metrics["by_size"])]
    if validation is not None:
        lines += _validation_files(run, splits, validation, history)
        callback = validation.callback
        if callback.best_epoch is not None:
            metrics["best"] = {"epoch": callback.best_epoch + 1, **callback.best_logs}
    columns = {
        key: [_float(row[key]) for row in history if row[key] not in ("", None)]
        for key in (history[0] if history else {})
        if key != "epoch"
    }
    reports.plot_histories([columns], run.file("curves.png"), f"{title} loss", curves)
    plot_gallery(
        test.gallery,
        boxes,
        labels,
        detections,
        run.config.gallery_threshold,
        splits.class_names,
        run.file("gallery.png"),
    )
    timing = ", ".join(
        f"{key.replace('_', ' ')} {value}"
        for key, value in extra.items()
        if "per_" in key or key.endswith("seconds")
    )
    # Saved for use: raw uint8 images of any size in, boxes in their pixels.
    served = serving.detector_serving_model(
        model, splits.class_names, resize=run.config.resize
    )
    return run.finish(
        metrics,
        model=served,
        lines=[
            title,
            f"mAP@0.5: {metrics['map50']:.4f}   mAP@[.5:.95]: {metrics['map']:.4f}"
            f"   ({scored} on the test images)",
            "AP@0.5 per class: "
            + ", ".join(f"{k} {v:.3f}" for k, v in scores["per_class_ap50"].items()),
            timing,
            *lines,
        ],
    )


def size_line(by_size):
    """The report's line of `ap_by_size`: which sizes the detector misses.

    Example:

    >>> print(size_line({"under_16_px": {"objects": 2, "ap50": 0.5},
    ...                  "over_16_px": {"objects": 0, "ap50": None}}))
    AP@0.5 by object size (square root of its area): under 16 px 0.500 (2 objects), over 16 px - (0 objects)
    """
    parts = []
    for name, group in by_size.items():
        value = "-" if group["ap50"] is None else f"{group['ap50']:.3f}"
        words = name.replace("_px", " px").replace("_", " ", 1)
        if words[0].isdigit():  # "16_32 px" reads "16-32 px"
            words = words.replace(" ", "-", 1)
        parts.append(f"{words} {value} ({group['objects']} objects)")
    return "AP@0.5 by object size (square root of its area): " + ", ".join(parts)


def _validation_files(run, splits, validation, history):
    """results.csv, results.png and val_predictions.png; the report's lines."""
    callback = validation.callback
    rows = write_results(history, run.file("results.csv"))
    plot_results(rows, run.file("results.png"), callback.best_epoch)
    if callback.detections is not None:
        plot_label_pairs(
            validation.split,
            callback.detections,
            run.config.gallery_threshold,
            splits.class_names,
            run.file("val_predictions.png"),
        )
    return best_lines(callback)


def best_lines(validation):
    """The closing report's line on the best validation epoch."""
    if validation.best_epoch is None:
        return []
    logs = validation.best_logs
    line = (
        f"best epoch {validation.best_epoch + 1} (best.keras): validation "
        f"mAP@[.5:.95] {logs['val_map']:.4f}, mAP@0.5 {logs['val_map50']:.4f}, "
        f"precision {logs['val_precision']:.3f}, recall {logs['val_recall']:.3f}"
    )
    lines = [line]
    if validation.stopped_epoch:
        lines.append(
            f"stopped after epoch {validation.stopped_epoch}: no better validation "
            f"mAP@[.5:.95] for {validation.patience} validations (--patience)"
        )
    return lines


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan
