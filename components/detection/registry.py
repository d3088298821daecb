"""Detectors by name, as the classifiers are: `build("faster_rcnn", ...)`."""

from __future__ import annotations

import inspect

from components.checks import invalid_value
from components.detection.dense_model import dense_detector
from components.detection.rcnn_model import (
    fast_rcnn_network,
    faster_rcnn_network,
    rcnn_network,
)
from components.detection.yolo_model import yolo_detector
from components.detection.yolov8 import yolov8_detector

DETECTORS = {
    "yolo": yolo_detector,
    "dense": dense_detector,
    "yolov8": yolov8_detector,
    "rcnn": rcnn_network,
    "fast_rcnn": fast_rcnn_network,
    "faster_rcnn": faster_rcnn_network,
}


def available():
    """The sorted names of the detectors `build` knows."""
    return sorted(DETECTORS)


def build(name, input_shape, num_classes, **options):
    """Builds a detector network by name.

    `yolo` regresses an S x S x (5B + C) grid; `rcnn`, `fast_rcnn` and
    `faster_rcnn` return the dict of `rois`, `class_logits` and `box_deltas`
    (and the RPN's outputs for Faster R-CNN) that `RegionDetector` trains.
    Each takes a backbone from `components.models` by name.

    Args:
        name: String. One of `available()`.
        input_shape: `(height, width, channels)`.
        num_classes: Positive integer C (background excluded).
        **options: The detector's own options (its builder's keyword arguments).

    Example:

    >>> net = build("yolo", (56, 56, 1), 10, width=4, stages=(1, 1, 1))
    >>> net.output.shape
    (None, 7, 7, 20)
    """
    if name not in DETECTORS:
        raise ValueError(
            invalid_value("name", name, f"one of {', '.join(available())}")
        )
    builder = DETECTORS[name]
    accepted = inspect.signature(builder).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(set(options) - set(accepted))
    if unknown and not takes_any:
        raise ValueError(
            f"Unknown option(s) {', '.join(unknown)} for detector {name!r}. Its "
            f"options are: {', '.join(list(accepted)[2:])}."
        )
    return builder(input_shape, num_classes, **options)
