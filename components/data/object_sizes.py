"""How large a data set's objects are at the network's input.

What a detector finds depends most on the object's size in the pixels it
sees, after the image is resized to `--image-size`: on the drawn shapes, the
dense head found objects under 16 px (two strides of its finest level) at
AP@0.5 0.78, against 0.94 at 16-32 px and 0.99 above (docs/recipes/yolo.md).
The data summary reports these sizes at load, so that the input size is
picked from the data, before a long run.
"""

from __future__ import annotations

import numpy as np

from components.detection.coco_eval import SMALL_SIDE

# SMALL_SIDE is `ap_by_size`'s first edge, so that the summary's "under
# 16 px" and the report's are the same objects.
# The share of small objects from which the summary suggests a larger input.
SMALL_SHARE = 0.10


def object_sizes(boxes, labels, input_size):
    """Sizes of the boxes of one split at the network's input.

    A box's size is the square root of its area (its side, for a square),
    as pycocotools' area ranges measure it.

    Args:
        boxes: `(images, slots, 4)` "xyxy" boxes in the input's pixels.
        labels: `(images, slots)` labels; -1 marks padding.
        input_size: `(height, width)` of the input.

    Returns:
        A dict: `input` (`[height, width]`), `boxes`, `smallest`, `median`
        and `largest` sizes in pixels (`None` without a box), and
        `under_16_px`, the count of boxes smaller than `SMALL_SIDE`.

    Example:

    >>> boxes = np.array([[[0, 0, 8, 8], [0, 0, 40, 10], [0, 0, 0, 0]]], "float32")
    >>> sizes = object_sizes(boxes, np.array([[0, 1, -1]]), (64, 64))
    >>> sizes["smallest"], sizes["largest"], sizes["under_16_px"]
    (8.0, 20.0, 1)
    """
    boxes = np.asarray(boxes, "float64").reshape(-1, 4)
    kept = np.asarray(labels).reshape(-1) >= 0
    width = np.clip(boxes[kept, 2] - boxes[kept, 0], 0, None)
    height = np.clip(boxes[kept, 3] - boxes[kept, 1], 0, None)
    sides = np.sqrt(width * height)
    found = sides.size > 0
    return {
        "input": [int(input_size[0]), int(input_size[1])],
        "boxes": int(sides.size),
        "smallest": round(float(sides.min()), 1) if found else None,
        "median": round(float(np.median(sides)), 1) if found else None,
        "largest": round(float(sides.max()), 1) if found else None,
        "under_16_px": int(np.sum(sides < SMALL_SIDE)),
    }


def object_size_line(split, sizes):
    """One report line of `object_sizes`; `None` for a split without a box.

    Example:

    >>> sizes = {"input": [224, 224], "boxes": 4, "smallest": 9.0,
    ...          "median": 30.0, "largest": 60.0, "under_16_px": 1}
    >>> print(object_size_line("train", sizes))  # doctest: +NORMALIZE_WHITESPACE
    train objects at the 224x224 input: 9-60 px, median 30 (square root of
    the box's area); 1 (25%) under 16 px, the hardest to find: a larger
    --image-size enlarges them, at a cost per image
    """
    if not sizes["boxes"]:
        return None
    height, width = sizes["input"]
    line = (
        f"{split} objects at the {width}x{height} input: "
        f"{sizes['smallest']:.0f}-{sizes['largest']:.0f} px, median "
        f"{sizes['median']:.0f} (square root of the box's area); "
        f"{sizes['under_16_px']} ({sizes['under_16_px'] / sizes['boxes']:.0%}) "
        f"under {SMALL_SIDE:.0f} px"
    )
    if sizes["under_16_px"] >= SMALL_SHARE * sizes["boxes"]:
        line += (
            ", the hardest to find: a larger --image-size enlarges them, "
            "at a cost per image"
        )
    return line


# The inputs `input_size_for` chooses from: multiples of 32 (the coarsest
# stride of a YOLOv8-class network), from a size where a 2-core CPU trains
# fast to Ultralytics' default.
SMALLEST_INPUT, LARGEST_INPUT, DEFAULT_INPUT = 160, 640, 224


def input_size_for(
    boxes, labels, input_size, small_share=SMALL_SHARE, largest=LARGEST_INPUT
):
    """The smallest square input, a multiple of 32 from 160 to `largest`, at
    which at most `small_share` of the boxes are smaller than `SMALL_SIDE`
    pixels.

    Boxes scale with the input side (a stretch and a letterbox alike), so
    one reading of the boxes at `input_size` tells their sizes at any other.
    The rule was fixed before the detector was measured with it: below 16
    px (two strides of the finest level) AP fell most (0.78 against 0.94 at
    16-32 px on the drawn shapes).

    Args:
        boxes: `(images, slots, 4)` "xyxy" boxes in the input's pixels.
        labels: `(images, slots)` labels; -1 marks padding.
        input_size: Integer. The square input side the boxes were read at.
        small_share: Float in [0, 1]. The share of boxes allowed under 16 px.
        largest: Integer. The largest side to choose (a time budget's cap).

    Returns:
        An integer side; `largest` where even that leaves more small boxes,
        160 where there is no box.

    Example:

    >>> boxes = np.array([[[0, 0, 10, 10], [0, 0, 40, 40]]], "float32")
    >>> input_size_for(boxes, np.array([[0, 1]]), 100, small_share=0.0)
    160
    >>> input_size_for(boxes, np.array([[0, 1]]), 320, small_share=0.0)
    512
    """
    boxes = np.asarray(boxes, "float64").reshape(-1, 4)
    kept = np.asarray(labels).reshape(-1) >= 0
    width = np.clip(boxes[kept, 2] - boxes[kept, 0], 0, None)
    height = np.clip(boxes[kept, 3] - boxes[kept, 1], 0, None)
    relative = np.sqrt(width * height) / float(input_size)
    largest = max(SMALLEST_INPUT, int(largest) // 32 * 32)
    if not relative.size:
        return SMALLEST_INPUT
    for side in range(SMALLEST_INPUT, largest + 1, 32):
        if np.mean(relative * side < SMALL_SIDE) <= small_share:
            return side
    return largest


def largest_input_for(minutes):
    """The largest input side worth a budget of `minutes` on a CPU: 224 px
    for 10 minutes, growing as the square root of the time (an epoch costs
    as many pixels as it reads), a multiple of 32; 640 without a budget.

    Measured on the drawn shapes (docs/recipes/yolo.md): in 10 minutes on 2
    cores, the dense head at 288 px (13 epochs) reached mAP@[.5:.95] 0.690
    where 224 px (22 epochs) reached 0.743; more pixels per image cost more
    epochs than they gave.

    Example:

    >>> largest_input_for(10), largest_input_for(30), largest_input_for(None)
    (224, 384, 640)
    """
    if not minutes:
        return LARGEST_INPUT
    side = 224 * (float(minutes) / 10.0) ** 0.5
    return int(min(LARGEST_INPUT, max(SMALLEST_INPUT, side // 32 * 32)))
