"""A user's own detection data: `coco:` and `yolo:` files.

`coco:ANNOTATIONS.json[:IMAGES]` reads one COCO JSON;
`coco:TRAIN.json,VAL.json[,TEST.json]` (each may keep its `:IMAGES`) one
file per split. `yolo:PATH` reads a YOLO layout, or the splits of its
Ultralytics `data.yaml` (`components.data.yolo_source`).

All read into the layout of `load_digit_canvases` (`DetectionSplits` of
Keras bounding-box dicts, "xyxy" pixels of the resized image). A source that
names its splits (a file per split, a data.yaml's `train`/`val`/`test`)
keeps them; without a test split, the validation images are scored as the
test split too, and the data summary says so. Any other source is split at
random by image with a seeded generator. Every box and label is checked
against its image's header before anything is written, and errors name the
file (and line or annotation) at fault. The images stream: each split is an
index of files with their boxes, read, decoded and resized inside tf.data.
Every box is kept: the box tensors are padded to the most boxes any image
holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os

import numpy as np
import tensorflow as tf

from components.checks import check_positive_int
from components.data.canvases import DetectionSplits
from components.data.image_files import ImageFileError, read_header
from components.data.image_ops import check_image_size, check_resize, letterbox_frame
from components.data.object_sizes import object_size_line, object_sizes
from components.data.splits import check_fractions
from components.data.streams import check_cache, file_stream

# Boxes may overhang their image by this much (rounding in annotation tools)
# before they are refused; what overhangs less is clipped.
PIXEL_SLACK = 1.0


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


@dataclasses.dataclass(frozen=True)
class ImageFrames:
    """The images of one split of files, as the network met them.

    Attributes:
        files: Tuple of image paths.
        sizes: `(images, 2)` array of each image's own `(width, height)`.
        input_size: `(height, width)` of the network's input.
        resize: `"stretch"` or `"letterbox"`.
    """

    files: tuple
    sizes: np.ndarray
    input_size: tuple
    resize: str

    def names(self):
        """Each file relative to the folder that holds them all (COCO's
        `file_name`)."""
        folders = [os.path.dirname(os.path.abspath(f)) for f in self.files]
        root = os.path.commonpath(folders) if folders else ""
        return [os.path.relpath(os.path.abspath(f), root) for f in self.files]

    def to_original(self, boxes):
        """Boxes `(images, slots, 4)` in the input's pixels to each image's
        own, clipped to it (the inverse of the resize; padding rows too).

        Example:

        >>> frames = ImageFrames(("a.jpg",), np.array([[200, 100]]), (64, 64),
        ...                      "letterbox")
        >>> frames.to_original(np.array([[[0.0, 16.0, 64.0, 48.0]]]))[0, 0].tolist()
        [0.0, 0.0, 200.0, 100.0]
        """
        boxes = np.asarray(boxes, "float32")
        out = np.empty_like(boxes)
        for row, (width, height) in enumerate(self.sizes):
            offset, scale = box_frame(width, height, self.input_size, self.resize)
            mapped = boxes[row] / scale - offset
            limit = np.array([width, height, width, height], "float32")
            out[row] = np.clip(mapped, 0.0, limit)
        return out


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
    """The data summary as report lines: one a split, a split's `note`
    (e.g. that the test split is the validation images) under it, the
    training objects' sizes at the input (`object_size_line`), and the
    boxes a `max_objects` cap dropped."""
    lines = []
    for key, part in summary.items():
        lines.append(
            f"{key}: {part['images']} images, {part['boxes']} boxes "
            f"({part['images_without_boxes']} images without one, at most "
            f"{part['most_boxes_in_an_image']} in an image, "
            f"{part['boxes_cut_by_the_edge']} cut by the image edge)"
        )
        if part.get("note"):
            lines.append(part["note"])
        sizes = part.get("objects_at_input")
        line = object_size_line(key, sizes) if key == "train" and sizes else None
        if line:
            lines.append(line)
    dropped = sum(
        p["boxes_dropped_by_max_objects"]
        for p in summary.values()
        if not p.get("same_images_as")  # counted once, with those images
    )
    if dropped:
        lines.append(
            f"--max-objects {max_objects} dropped {dropped} boxes from the training "
            "targets; scoring still counts every box of the files"
        )
    return lines


def join_splits(per_split, name, key=None):
    """The items of named splits in one list, and each split's indices.

    Args:
        per_split: Dict from split (`"train"`, `"validation"`, `"test"`) to
            a list of items (image files, or records whose first field is
            the file).
        name: String. The dataset, for errors.
        key: Callable or `None` (the item is the file). The file of an item.

    Returns:
        `(items, parts)`: every item, split after split, and a dict from
        split to its index array into `items`.

    Raises:
        ValueError: naming an image listed in two splits (or twice in one):
            an image in two splits leaks, train/val overlap above all.
    """
    items, parts, seen = [], {}, {}
    for split, group in per_split.items():
        start = len(items)
        for item in group:
            file = item if key is None else key(item)
            path = os.path.abspath(file)
            if path in seen:
                where = (
                    f"twice in the {split} split"
                    if seen[path] == split
                    else f"in both the {seen[path]} and the {split} split"
                )
                raise ValueError(
                    f"dataset {name}: image {file!r} is {where}; each image "
                    "belongs to one split (an image in two splits leaks its "
                    "answer into the scores)."
                )
            seen[path] = split
            items.append(item)
        parts[split] = np.arange(start, len(items))
    return items, parts


def _explicit_parts(parts, name):
    """`parts` as the loader's `{test, validation, train}` index arrays, the
    test split the validation one where there is none; `(parts, shared)`."""
    for key in parts:
        if not len(parts[key]):
            raise ValueError(f"dataset {name}: the {key} split holds no images.")
    missing = [k for k in ("train", "validation") if k not in parts]
    if missing:
        raise ValueError(f"dataset {name}: no {' or '.join(missing)} split.")
    shared = "test" not in parts
    return {
        "test": np.asarray(parts["validation" if shared else "test"], "int64"),
        "validation": np.asarray(parts["validation"], "int64"),
        "train": np.asarray(parts["train"], "int64"),
    }, shared


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
    parts=None,
    test_note=None,
):
    """Streaming `DetectionSplits` of `(file, (w, h), boxes, labels[, cut])`
    records: the targets padded to the most boxes any image holds (or cut
    at `max_objects`, said in the summary), the images decoded and resized
    inside tf.data.

    The splits are `parts` (a dict from `"train"`, `"validation"` and
    optionally `"test"` to index arrays into `records`) when given, and
    `seed`, `validation_fraction` and `test_fraction` then do not apply;
    without `"test"`, the validation images are the test split too, and
    `test_note` (or a default) says so in the test split's summary.
    Otherwise a seeded random split by image (`split_records`).
    """
    size = check_image_size(image_size)
    if size is None:
        raise ValueError("Detection datasets need an `image_size` (images vary).")
    if max_objects is not None:
        check_positive_int("max_objects", max_objects)
    check_cache(cache)
    check_resize(resize)
    if parts is None:
        parts = split_records(records, name, seed, validation_fraction, test_fraction)
        shared = False
    else:
        parts, shared = _explicit_parts(parts, name)
    height, width = size
    most = max([len(r[3]) for r in records] + [1])
    slots = most if max_objects is None else min(max_objects, most)

    def example(image, original, boxes, labels):
        offset, scale = box_frame(original[0], original[1], size, resize)
        boxes = tf.where(labels[:, None] >= 0, (boxes + offset) * scale, -1.0)
        return {"images": image, "bounding_boxes": {"boxes": boxes, "labels": labels}}

    streams, truth, originals = {}, {}, {}
    for key, index in parts.items():
        if shared and key == "test":
            continue  # the validation split's, below
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
        originals[key] = ImageFrames(tuple(files), np.asarray(sizes), size, resize)
    datasets = {key: stream.decoded() for key, stream in streams.items()}
    summary = data_summary(records, parts, class_names, slots)
    for key, (boxes, labels) in truth.items():
        summary[key]["objects_at_input"] = object_sizes(boxes, labels, size)
    if shared:
        streams["test"], truth["test"] = streams["validation"], truth["validation"]
        originals["test"] = originals["validation"]
        datasets["test"] = datasets["validation"]
        summary["test"]["same_images_as"] = "validation"
        summary["test"]["note"] = test_note or (
            "no test split: the validation images are scored as the test split too"
        )
    return DetectionSplits(
        name=name,
        num_classes=len(class_names),
        image_shape=(height, width, 3),
        max_objects=slots,
        sizes={k: int(len(v)) for k, v in parts.items()},
        class_names=tuple(class_names),
        streams={k: streams[k] for k in parts},
        truth={k: truth[k] for k in parts},
        summary=summary,
        originals={k: originals[k] for k in parts},
        **datasets,
    )


def _check_size(file, width, height, name):
    found = read_header(file)[:2]
    if found != (width, height):
        raise ImageFileError(
            f"dataset {name}: image {file!r} is {found[0]}x{found[1]} but its "
            f"annotations give {width}x{height}."
        )


def read_coco_records(annotations, images_dir=None):
    """The categories and records of one COCO JSON (read with pycocotools).

    Args:
        annotations: String. COCO JSON (`images`, `annotations`, `categories`).
        images_dir: String or `None` (the JSON's folder). Where `file_name`s are.

    Returns:
        `(categories, records)`: `[(id, name)]` sorted by id (label `i` is
        the `i`-th), and per image `(file, (w, h), boxes, labels, cut)`:
        "xyxy" boxes in the image's pixels, and how many were clipped to it.
        Crowd annotations are skipped.
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
    if not isinstance(content, dict):
        raise ValueError(f"dataset {name}: not COCO's format (not a JSON object).")
    missing = [k for k in ("images", "annotations", "categories") if k not in content]
    if missing:
        raise ValueError(f"dataset {name}: not COCO's format, missing {missing}.")
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints
        coco = COCO(annotations)
    categories = sorted(coco.getCatIds())
    if not categories:
        raise ValueError(f"dataset {name}: `categories` is empty.")
    label_of = {cat: i for i, cat in enumerate(categories)}
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
    return [(c, str(coco.cats[c]["name"])) for c in categories], records


def _category_difference(first, other, first_file, other_file):
    """The `(id, name)` categories one file has and the other lacks."""
    a, b = set(first), set(other)
    return (
        f"only in {first_file!r}: {sorted(a - b)[:5]}, "
        f"only in {other_file!r}: {sorted(b - a)[:5]}"
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

    One JSON is split at random by image (`seed`). A list of two or three
    JSONs is train, validation (and test): their splits are the splits, and
    `seed`, `validation_fraction` and `test_fraction` do not apply. Their
    categories (ids and names) must be the same, and an image may be in one
    split only. Without a test file, the validation images are scored as the
    test split too, as the summary says.

    Args:
        annotations: String, or a list of 2 or 3 strings (train, validation[,
            test]). COCO JSON (`images`, `annotations`, `categories`).
        images_dir: String or `None` (each JSON's folder), or a list of those,
            one per JSON. Where `file_name`s are.
        image_size: Integer or `(height, width)`. Images are resized to it
            (aspect not kept; boxes follow).
        max_objects: Positive integer or `None` (every box: the targets are
            padded to the most boxes any image holds). A cap keeps the first
            boxes of an image for training, says in `summary` how many it
            dropped, and leaves `truth` (the scoring) with every box.
        seed: Integer. Seed of the split by image (one JSON).
        validation_fraction: Float in (0, 1) (one JSON).
        test_fraction: Float in (0, 1) (one JSON).
        cache: `"none"`, `"ram"` or `"disk"` (`components.data.streams`).
        verbose: 0 or 1: a progress bar while a cache fills.
        resize: `"stretch"` (to `image_size`, the aspect changes) or
            `"letterbox"` (the aspect kept, black bands; boxes follow).

    Returns:
        A `DetectionSplits` named `"coco:ANNOTATIONS"` (the files joined by
        commas).
    """
    common = dict(
        image_size=image_size,
        max_objects=max_objects,
        seed=seed,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        cache=cache,
        verbose=verbose,
        resize=resize,
    )
    if isinstance(annotations, str):
        categories, records = read_coco_records(annotations, images_dir)
        class_names = [category for _, category in categories]
        return _records_to_splits(records, class_names, f"coco:{annotations}", **common)
    files = [str(f) for f in annotations]
    name = "coco:" + ",".join(files)
    if not 2 <= len(files) <= 3:
        raise ValueError(
            f"dataset {name}: expected 2 or 3 annotation files (train, "
            f"validation[, test]); got {len(files)}."
        )
    folders = (
        list(images_dir)
        if isinstance(images_dir, (list, tuple))
        else [images_dir] * len(files)
    )
    if len(folders) != len(files):
        raise ValueError(
            f"dataset {name}: {len(folders)} image folders for {len(files)} "
            "annotation files."
        )
    per_split, categories = {}, None
    for split, file, folder in zip(("train", "validation", "test"), files, folders):
        found, records = read_coco_records(file, folder)
        if not records:
            raise ValueError(f"dataset coco:{file}: `images` is empty.")
        if categories is None:
            categories = found
        elif found != categories:
            difference = _category_difference(categories, found, files[0], file)
            raise ValueError(
                f"dataset {name}: the categories of {file!r} differ from those "
                f"of {files[0]!r} ({difference}); every split needs the same "
                "categories (ids and names)."
            )
        per_split[split] = records
    records, parts = join_splits(per_split, name, key=lambda record: record[0])
    note = None
    if len(files) == 2:
        note = (
            "no test annotation file: the validation images are scored as the "
            "test split too"
        )
    return _records_to_splits(
        records,
        [category for _, category in categories],
        name,
        parts=parts,
        test_note=note,
        **common,
    )


def parse_coco_spec(text):
    """`(annotations, images_dir)` of what follows `coco:`.

    `ANNOTATIONS.json[:IMAGES_DIR]` gives a string and a string or `None`;
    `TRAIN.json[:DIR],VAL.json[:DIR][,TEST.json[:DIR]]` (every part naming a
    `.json`) gives a list of each. A folder or file name holding a comma
    followed by `.json` cannot be told apart.
    """

    def one(part):
        if ".json:" in part:
            annotations, images_dir = part.split(".json:", 1)
            return annotations + ".json", images_dir or None
        return part, None

    pieces = text.split(",")
    if len(pieces) > 1 and all(".json" in piece for piece in pieces):
        pairs = [one(piece) for piece in pieces]
        return [a for a, _ in pairs], [d for _, d in pairs]
    return one(text)
