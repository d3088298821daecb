"""Every picture a detection run draws: the gallery and `labels.png`,
`results.png`, `val_predictions.png`, and the test detections' PR and F1
curves and confusion matrix."""

from __future__ import annotations

import math

import numpy as np

from components import detection


def draw_panel(panel, image, boxes=(), labels=(), class_names=None):
    """An image on a matplotlib axis with its true boxes (green; named when
    `class_names` is given)."""
    from matplotlib.patches import Rectangle

    panel.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
    for box, label in zip(boxes, labels):
        if label >= 0:
            x0, y0, x1, y1 = box
            panel.add_patch(
                Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime")
            )
            if class_names is not None:
                panel.text(
                    x0, y0 - 1, class_names[int(label)], color="lime", fontsize=7
                )


def draw_detections(panel, detections, index, threshold, class_names):
    """Image `index`'s detections scored `threshold` or more (red, label:score)."""
    from matplotlib.patches import Rectangle

    for k in range(int(detections["num_detections"][index])):
        score = detections["scores"][index][k]
        if score < threshold:
            continue
        x0, y0, x1, y1 = detections["boxes"][index][k]
        name = class_names[int(detections["labels"][index][k])]
        panel.add_patch(
            Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="red", ls="--")
        )
        panel.text(x0, y0 - 1, f"{name}:{score:.2f}", color="red", fontsize=7)


def plot_gallery(
    images,
    boxes,
    labels,
    detections,
    threshold,
    class_names,
    path,
    title="green: ground truth; red: detections",
):
    """Test images with true boxes (green) and detections (red, label:score)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = min(12, len(images))
    fig, axes = plt.subplots(3, 4, figsize=(12, 9))
    for index, panel in enumerate(axes.flat):
        panel.axis("off")
        if index < count:
            draw_panel(panel, images[index], boxes[index], labels[index])
            draw_detections(panel, detections, index, threshold, class_names)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_examples(examples, class_names, path, title):
    """Examples (`{"images", "bounding_boxes"}` dicts) drawn with their boxes."""
    images, boxes, labels = [], [], []
    for example in examples:
        images.append(np.asarray(example["images"]))
        boxes.append(np.asarray(example["bounding_boxes"]["boxes"]))
        labels.append(np.asarray(example["bounding_boxes"]["labels"]))
    empty = {"num_detections": np.zeros(len(images), "int32")}
    plot_gallery(images, boxes, labels, empty, 1.0, class_names, path, title=title)


def plot_results(rows, path, best_epoch=None):
    """`results.png`: the losses, precision and recall, and both mAPs per
    epoch (validated epochs only), the best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("loss", ("loss", "val_loss")),
        ("precision and recall", ("precision", "recall")),
        ("mAP@0.5", ("map50",)),
        ("mAP@[.5:.95]", ("map",)),
    )
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for panel, (title, keys) in zip(axes, panels):
        for key in keys:
            points = [
                (r["epoch"], r[key])
                for r in rows
                if key in r and not math.isnan(r[key])
            ]
            if points:
                x, y = zip(*points)
                panel.plot(x, y, marker="." if len(points) < 30 else None, label=key)
        if best_epoch is not None:
            panel.axvline(best_epoch + 1, color="grey", ls=":", lw=1)
        panel.set_title(title)
        panel.set_xlabel("epoch")
        if len(keys) > 1:
            panel.legend(fontsize=8)
    if best_epoch is not None:
        fig.suptitle(f"best epoch (dotted): {best_epoch + 1}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_label_pairs(split, detections, threshold, class_names, path, count=6):
    """`val_predictions.png`: each of the first `count` images twice, its
    labels (green) beside the detections scored `threshold` or more (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = min(count, len(split.gallery))
    rows = max(1, -(-count // 2))
    fig, axes = plt.subplots(rows, 4, figsize=(12, 3 * rows), squeeze=False)
    for panel in axes.flat:
        panel.axis("off")
    for index in range(count):
        left = axes.flat[2 * index]
        draw_panel(
            left,
            split.gallery[index],
            split.boxes[index],
            split.labels[index],
            class_names,
        )
        left.set_title("labels", fontsize=8)
        right = axes.flat[2 * index + 1]
        draw_panel(right, split.gallery[index])
        draw_detections(right, detections, index, threshold, class_names)
        right.set_title("predictions", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_test_curves(truth, rows, file):
    """`PR_curve.png`, `F1_curve.png` and `confusion_matrix.png` of the test
    detections; returns the operating curves (`operating_curves`)."""
    curves = detection.operating_curves(truth, rows)
    detection.plot_pr_curves(curves, file("PR_curve.png"))
    detection.plot_f1_curves(curves, file("F1_curve.png"))
    matrix = detection.confusion_matrix(truth, rows)
    detection.plot_confusion_matrix(
        matrix, curves["class_names"], file("confusion_matrix.png")
    )
    return curves
