"""A user's own detection data: `coco:ANNOTATIONS.json[:IMAGES]` and `yolo:PATH`.

Both read into the layout of `load_digit_canvases` (`DetectionSplits` of
Keras bounding-box dicts, "xyxy" pixels of the resized image), split at random
by image with a seeded generator. Every box and label is checked against its
image's header before anything is written, and errors name the file (and line
or annotation) at fault. The images stream: each split is an index of files
with their boxes, read, decoded and resized inside tf.data. Every box is
kept: the box tensors are padded to the most boxes any image holds.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os

import numpy as np
import tensorflow as tf

from components.checks import check_positive_int
from components.data.canvases import DetectionSplits
from components.data.image_files import (
    ImageFileError,
    list_images,
    read_header,
)
from components.data.image_ops import check_image_size, check_resize, letterbox_frame
from components.data.splits import check_fractions
from components.data.streams import cached_index, check_cache, file_stream

# Boxes may overhang their image by this much (rounding in annotation tools)
# before they are refused; what overhangs less is clipped.
PIXEL_SLACK = 1.0
RELATIVE_SLACK = 1e-3


def split_records(records, name, seed, validation_fraction, test_fraction):
    """Index arrays of a seeded random split by image."""
    check_fractions(validation_fraction, test_fraction)
    if len(records) < 3:
        raise ValueError(
            f"dataset {name}: {len(records)} annotated images are too few for "
            "training, validation and test splits (at least 3)."
        )
    order = np.random.default_rng(seed).permutation(len(records))
    n_test = max(1, int(round(test_fraction * len(records))))
    n_val = max(1, int(round(validation_fraction * len(records))))
    if n_test + n_val >= len(records):
        raise ValueError(
            f"dataset {name}: {len(records)} images leave no training split for "
            f"validation_fraction={validation_fraction}, test_fraction={test_fraction}."
        )
    return {
        "test": np.sort(order[:n_test]),
        "validation": np.sort(order[n_test : n_test + n_val]),
        "train": np.sort(order[n_test + n_val :]),
    }


def _padded(records, index, slots):
    """`(sizes, boxes, labels)` of the records at `index`: original `(w, h)`,
    boxes in original pixels and labels, padded with -1 to `slots` (the first
    `slots` of an image that holds more)."""
    sizes = np.zeros((len(index), 2), "float32")
    boxes = np.full((len(index), slots, 4), -1.0, "float32")
    labels = np.full((len(index), slots), -1, "int32")
    for row, i in enumerate(index):
        _, (w, h), box, label = records[i][:4]
        sizes[row] = (w, h)
        count = min(len(label), slots)
        if count:
            boxes[row, :count] = np.asarray(box[:count], "float32").reshape(-1, 4)
            labels[row, :count] = label[:count]
    return sizes, boxes, labels


def box_frame(original_width, original_height, size, resize):
    """`(offset, scale)`, each `(x, y, x, y)`: a box of the original image's
    pixels lands at `(box + offset) * scale` in the resized one. NumPy or
    TensorFlow values."""
    height, width = size
    if resize == "letterbox":
        top, left, scale_y, scale_x = letterbox_frame(
            original_height, original_width, size
        )
        offset = [left, top, left, top]
        scale = [scale_x, scale_y, scale_x, scale_y]
    else:
        offset = [0.0] * 4
        scale = [width / original_width, height / original_height] * 2
    if isinstance(original_width, tf.Tensor):
        return (
            tf.stack([tf.cast(v, tf.float32) for v in offset]),
            tf.stack([tf.cast(v, tf.float32) for v in scale]),
        )
    return np.asarray(offset, "float32"), np.asarray(scale, "float32")


def _scaled(boxes, labels, sizes, size, resize):
    """Boxes of original pixels in the pixels of the resized images."""
    out = np.full_like(boxes, -1.0)
    for row, (w, h) in enumerate(sizes):
        offset, scale = box_frame(w, h, size, resize)
        out[row] = (boxes[row] + offset) * scale
    return np.where(labels[..., None] >= 0, out, -1.0).astype("float32")


def data_summary(records, parts, class_names, slots):
    """What a detection source loaded, per split: images, boxes per class,
    images with no box, the most boxes in one image, boxes cut by the image
    edge, and boxes dropped by a `max_objects` cap."""
    summary = {}
    for key, index in parts.items():
        counts = [len(records[i][3]) for i in index]
        per_class = np.zeros(len(class_names), "int64")
        cut = 0
        for i in index:
            per_class += np.bincount(
                np.asarray(records[i][3], "int64"), minlength=len(class_names)
            )
            cut += records[i][4] if len(records[i]) > 4 else 0
        summary[key] = {
            "images": len(index),
            "boxes": int(sum(counts)),
            "boxes_per_class": dict(zip(class_names, per_class.tolist())),
            "images_without_boxes": int(sum(c == 0 for c in counts)),
            "most_boxes_in_an_image": int(max(counts, default=0)),
            "boxes_cut_by_the_edge": int(cut),
            "boxes_dropped_by_max_objects": int(sum(max(0, c - slots) for c in counts)),
        }
    return summary


def summary_lines(summary, max_objects=None):
    """The data summary as report lines."""
    lines = []
    for key, part in summary.items():
        lines.append(
            f"{key}: {part['images']} images, {part['boxes']} boxes "
            f"({part['images_without_boxes']} images without one, at most "
            f"{part['most_boxes_in_an_image']} in an image, "
            f"{part['boxes_cut_by_the_edge']} cut by the image edge)"
        )
    dropped = sum(p["boxes_dropped_by_max_objects"] for p in summary.values())
    if dropped:
        lines.append(
            f"--max-objects {max_objects} dropped {dropped} boxes from the training "
            "targets; scoring still counts every box of the files"
        )
    return lines


def _records_to_splits(
    records,
    class_names,
    name,
    image_size,
    max_objects,
    seed,
    validation_fraction,
    test_fraction,
    cache="none",
    verbose=0,
    resize="stretch",
):
    """Streaming `DetectionSplits` of `(file, (w, h), boxes, labels[, cut])`
    records: the targets padded to the most boxes any image holds (or cut
    at `max_objects`, said in the summary), the images decoded and resized
    inside tf.data."""
    size = check_image_size(image_size)
    if size is None:
        raise ValueError("Detection datasets need an `image_size` (images vary).")
    if max_objects is not None:
        check_positive_int("max_objects", max_objects)
    check_cache(cache)
    check_resize(resize)
    parts = split_records(records, name, seed, validation_fraction, test_fraction)
    height, width = size
    most = max([len(r[3]) for r in records] + [1])
    slots = most if max_objects is None else min(max_objects, most)

    def example(image, original, boxes, labels):
        offset, scale = box_frame(original[0], original[1], size, resize)
        boxes = tf.where(labels[:, None] >= 0, (boxes + offset) * scale, -1.0)
        return {"images": image, "bounding_boxes": {"boxes": boxes, "labels": labels}}

    streams, truth = {}, {}
    for key, index in parts.items():
        files = [records[i][0] for i in index]
        sizes, boxes, labels = _padded(records, index, slots)
        streams[key] = file_stream(
            files,
            (sizes, boxes, labels),
            example,
            size,
            3,
            antialias=True,
            cache=cache,
            name=f"{name}:{key}:boxes",
            verbose=verbose,
            resize=resize,
        )
        _, all_boxes, all_labels = _padded(records, index, most)
        truth[key] = (_scaled(all_boxes, all_labels, sizes, size, resize), all_labels)
    return DetectionSplits(
        name=name,
        num_classes=len(class_names),
        image_shape=(height, width, 3),
        max_objects=slots,
        sizes={k: int(len(v)) for k, v in parts.items()},
        class_names=tuple(class_names),
        streams=streams,
        truth=truth,
        summary=data_summary(records, parts, class_names, slots),
        **{key: stream.decoded() for key, stream in streams.items()},
    )


def _check_size(file, width, height, name):
    found = read_header(file)[:2]
    if found != (width, height):
        raise ImageFileError(
            f"dataset {name}: image {file!r} is {found[0]}x{found[1]} but its "
            f"annotations give {width}x{height}."
        )


def load_coco_detection(
    annotations,
    images_dir=None,
    image_size=112,
    max_objects=None,
    seed=0,
    validation_fraction=0.1,
    test_fraction=0.2,
    cache="none",
    verbose=0,
    resize="stretch",
):
    """Loads a COCO-format detection dataset (read with pycocotools).

    Category ids may be any integers: they become labels 0..C-1 in the order
    of their ids, named by the categories' names. Crowd annotations
    (`iscrowd: 1`) are skipped, as COCO's own training code does; images
    without annotations stay in as background.

    Args:
        annotations: String. COCO JSON (`images`, `annotations`, `categories`).
        images_dir: String or `None` (the JSON's folder). Where `file_name`s are.
        image_size: Integer or `(height, width)`. Images are resized to it
            (aspect not kept; boxes follow).
        max_objects: Positive integer or `None` (every box: the targets are
            padded to the most boxes any image holds). A cap keeps the first
            boxes of an image for training, says in `summary` how many it
            dropped, and leaves `truth` (the scoring) with every box.
        seed: Integer. Seed of the split by image.
        validation_fraction: Float in (0, 1).
        test_fraction: Float in (0, 1).
        cache: `"none"`, `"ram"` or `"disk"` (`components.data.streams`).
        verbose: 0 or 1: a progress bar while a cache fills.
        resize: `"stretch"` (to `image_size`, the aspect changes) or
            `"letterbox"` (the aspect kept, black bands; boxes follow).

    Returns:
        A `DetectionSplits` named `"coco:ANNOTATIONS"`.
    """
    from pycocotools.coco import COCO

    name = f"coco:{annotations}"
    if not os.path.isfile(annotations):
        raise ValueError(f"dataset {name}: no such file.")
    try:
        with open(annotations) as f:
            content = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"dataset {name}: not a readable JSON file: {error}") from None
    missing = [k for k in ("images", "annotations", "categories") if k not in content]
    if not isinstance(content, dict) or missing:
        raise ValueError(f"dataset {name}: not COCO's format, missing {missing}.")
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints
        coco = COCO(annotations)
    categories = sorted(coco.getCatIds())
    if not categories:
        raise ValueError(f"dataset {name}: `categories` is empty.")
    label_of = {cat: i for i, cat in enumerate(categories)}
    class_names = [coco.cats[c]["name"] for c in categories]
    images_dir = os.path.dirname(annotations) if images_dir is None else images_dir
    records = []
    for image_id in sorted(coco.getImgIds()):
        info = coco.imgs[image_id]
        file = os.path.join(images_dir, info["file_name"])
        width, height = int(info["width"]), int(info["height"])
        _check_size(file, width, height, name)
        boxes, labels, cut = [], [], 0
        for ann in coco.imgToAnns.get(image_id, []):
            if ann.get("iscrowd", 0):
                continue
            where = f"annotation {ann.get('id')} of {info['file_name']!r}"
            if ann.get("category_id") not in label_of:
                raise ValueError(
                    f"dataset {name}: {where} has category_id "
                    f"{ann.get('category_id')}, not one of the categories "
                    f"{categories}."
                )
            x, y, w, h = (float(v) for v in ann["bbox"])
            if w <= 0 or h <= 0:
                raise ValueError(
                    f"dataset {name}: {where} has an empty bbox {ann['bbox']}."
                )
            if (
                x < -PIXEL_SLACK
                or y < -PIXEL_SLACK
                or x + w > width + PIXEL_SLACK
                or y + h > height + PIXEL_SLACK
            ):
                raise ValueError(
                    f"dataset {name}: {where} has bbox [x, y, w, h] = {ann['bbox']} "
                    f"outside its {width}x{height} image."
                )
            cut += x < 0 or y < 0 or x + w > width or y + h > height
            box = np.clip([x, y, x + w, y + h], 0, [width, height, width, height])
            if box[2] <= box[0] or box[3] <= box[1]:  # all of it in the overhang
                raise ValueError(
                    f"dataset {name}: {where} has bbox [x, y, w, h] = {ann['bbox']} "
                    f"outside its {width}x{height} image."
                )
            boxes.append(box.tolist())
            labels.append(label_of[ann["category_id"]])
        records.append((file, (width, height), boxes, labels, cut))
    return _records_to_splits(
        records,
        class_names,
        name,
        image_size,
        max_objects,
        seed,
        validation_fraction,
        test_fraction,
        cache,
        verbose,
        resize,
    )


def read_class_names(path):
    """The class names of a YOLO folder: `classes.txt` (one per line) or the
    `names` of `data.yaml` (a list, or a dict from index to name)."""
    text_file = os.path.join(path, "classes.txt")
    yaml_file = os.path.join(path, "data.yaml")
    if os.path.isfile(text_file):
        with open(text_file) as f:
            names = [line.strip() for line in f if line.strip()]
    elif os.path.isfile(yaml_file):
        import yaml

        with open(yaml_file) as f:
            names = (yaml.safe_load(f) or {}).get("names", [])
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names)]
    else:
        raise ValueError(
            f"dataset yolo:{path}: expected the class names in {text_file!r} (one "
            f"per line) or in {yaml_file!r} (`names:`); found neither."
        )
    if not names:
        raise ValueError(f"dataset yolo:{path}: the class-name file lists no classes.")
    return [str(n) for n in names]


def _read_yolo_labels(label_file, width, height, num_classes, name):
    """`(boxes, labels, cut)`: boxes in pixels, and how many were clipped to
    the image."""
    boxes, labels, cut = [], [], 0
    if not os.path.isfile(label_file):
        return boxes, labels, cut  # an image without objects
    with open(label_file) as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"dataset {name}: {label_file}:{number}"
        fields = line.split()
        try:
            values = [float(v) for v in fields]
        except ValueError:
            values = []
        # Plain Python per box: NumPy's per-call cost was most of the load
        # time of a large set (41,689 boxes: 2.5 s of 7).
        if len(values) != 5 or not all(map(math.isfinite, values)):
            raise ValueError(
                f"{where}: expected 'class cx cy w h' (5 finite numbers); read "
                f"{line!r}."
            )
        label, cx, cy, w, h = values
        if label != int(label) or not 0 <= label < num_classes:
            raise ValueError(
                f"{where}: class {fields[0]} is out of range; expected an integer "
                f"in [0, {num_classes}) ({num_classes} class names)."
            )
        if w <= 0 or h <= 0:
            raise ValueError(f"{where}: the box has no area (w={w:g}, h={h:g}).")
        x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if min(x0, y0) < -RELATIVE_SLACK or max(x1, y1) > 1 + RELATIVE_SLACK:
            raise ValueError(
                f"{where}: the box (cx={cx:g}, cy={cy:g}, w={w:g}, h={h:g}) lies "
                "outside its image: coordinates are relative, in [0, 1]."
            )
        cut += min(x0, y0) < 0 or max(x1, y1) > 1
        x0, y0, x1, y1 = (min(max(v, 0.0), 1.0) for v in (x0, y0, x1, y1))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"{where}: the box lies in the margin outside its image.")
        boxes.append([x0 * width, y0 * height, x1 * width, y1 * height])
        labels.append(int(label))
    return boxes, labels, cut


def load_yolo_detection(
    path,
    image_size=112,
    max_objects=None,
    seed=0,
    validation_fraction=0.1,
    test_fraction=0.2,
    cache="none",
    verbose=0,
    resize="stretch",
):
    """Loads a YOLO-layout detection dataset.

    The layout: `PATH/images/NAME.jpg` (any sub-folders) with
    `PATH/labels/NAME.txt` beside it in the same sub-folders, one line
    `class cx cy w h` per object (class an index, the box relative to the
    image), and the class names in `PATH/classes.txt` or `PATH/data.yaml`.
    An image without a label file has no objects.

    Args:
        path: String. The dataset folder.
        image_size: Integer or `(height, width)`. Images are resized to it.
        max_objects: Positive integer or `None` (every box: the targets are
            padded to the most boxes any image holds). A cap keeps the first
            boxes of an image for training, says in `summary` how many it
            dropped, and leaves `truth` (the scoring) with every box.
        seed: Integer. Seed of the split by image.
        validation_fraction: Float in (0, 1).
        test_fraction: Float in (0, 1).
        cache: `"none"`, `"ram"` or `"disk"` (`components.data.streams`).
        verbose: 0 or 1: a progress bar while a cache fills.
        resize: `"stretch"` (to `image_size`, the aspect changes) or
            `"letterbox"` (the aspect kept, black bands; boxes follow).

    Returns:
        A `DetectionSplits` named `"yolo:PATH"`.
    """
    name = f"yolo:{path}"
    images_dir = os.path.join(path, "images")
    if not os.path.isdir(images_dir):
        raise ValueError(f"dataset {name}: expected a folder {images_dir!r}.")
    class_names = read_class_names(path)
    files = list_images(images_dir)
    if not files:
        raise ImageFileError(f"dataset {name}: {images_dir!r} holds no images.")
    label_files = [
        os.path.join(
            path,
            "labels",
            os.path.splitext(os.path.relpath(file, images_dir))[0] + ".txt",
        )
        for file in files
    ]

    def read_columns():
        sizes, counts, boxes, labels, cuts = [], [], [], [], []
        for file, label_file in zip(files, label_files):
            width, height, _ = read_header(file)
            found, classes, cut = _read_yolo_labels(
                label_file, width, height, len(class_names), name
            )
            sizes.append((width, height))
            counts.append(len(classes))
            boxes += found
            labels += classes
            cuts.append(cut)
        # Columns of NumPy arrays: the disk cache's index keeps them as
        # they are (float64 boxes: the same numbers a fresh read gives).
        return {
            "sizes": np.array(sizes, "int64").reshape(-1, 2),
            "counts": np.array(counts, "int64"),
            "boxes": np.array(boxes, "float64").reshape(-1, 4),
            "labels": np.array(labels, "int64"),
            "cuts": np.array(cuts, "int64"),
        }

    present = [f for f in label_files if os.path.isfile(f)]
    columns = cached_index(name, files + present, read_columns, cache)
    ends = np.cumsum(columns["counts"])
    boxes, labels = columns["boxes"].tolist(), columns["labels"].tolist()
    records = [
        (
            file,
            (int(w), int(h)),
            boxes[end - count : end],
            labels[end - count : end],
            int(cut),
        )
        for file, (w, h), count, end, cut in zip(
            files,
            columns["sizes"].tolist(),
            columns["counts"].tolist(),
            ends.tolist(),
            columns["cuts"].tolist(),
        )
    ]
    return _records_to_splits(
        records,
        class_names,
        name,
        image_size,
        max_objects,
        seed,
        validation_fraction,
        test_fraction,
        cache,
        verbose,
        resize,
    )


def load_detection_files(spec, **kwargs):
    """`coco:ANNOTATIONS.json[:IMAGES_DIR]` or `yolo:PATH` to `DetectionSplits`."""
    if spec.startswith("yolo:"):
        return load_yolo_detection(spec[5:], **kwargs)
    annotations, images_dir = spec[5:], None
    if ".json:" in annotations:
        annotations, images_dir = annotations.split(".json:", 1)
        annotations += ".json"
    return load_coco_detection(annotations, images_dir, **kwargs)
