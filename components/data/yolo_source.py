"""A YOLO layout's detection data: `yolo:PATH` and `yolo:PATH/data.yaml`.

Two forms, read into the `DetectionSplits` of `components.data.annotations`:

- A folder without splits: `PATH/images/...` (any sub-folders) with the
  `PATH/labels/...` mirror, the class names in `PATH/classes.txt` or in the
  `names` of `PATH/data.yaml`. Split at random by image, seeded.
- A `data.yaml` in Ultralytics' form, given as the file itself or as the
  folder that holds it (a folder's `data.yaml` counts when it names a
  split): its splits are the splits. `path` is the dataset root;
  `train`, `val` and optionally `test` are each a folder, a list file of
  image paths, or a YAML list of those; `names` a list or a dict from index
  to name, `nc` optional. Without `test`, the val images are scored as the
  test split too, and the data summary says so.

An image's label file holds one line `class cx cy w h` per object (class an
index, the box relative to the image); an image without one has no objects.
Every box is checked against its image's header before anything is written,
and errors name the file (and line) at fault.
"""

from __future__ import annotations

import math
import os

import numpy as np

from components.data.annotations import _records_to_splits, join_splits
from components.data.image_files import (
    IMAGE_EXTENSIONS,
    ImageFileError,
    is_image_file,
    list_images,
    read_header,
)
from components.data.streams import cached_index

# Boxes may overhang their image by this much (relative coordinates) before
# they are refused; what overhangs less is clipped.
RELATIVE_SLACK = 1e-3

# data.yaml's keys of the splits, and the names the splits get here.
YAML_SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))


def _one_line(error):
    return " ".join(str(error).split())


def read_yaml(file, name):
    """The mapping a YAML file holds; a `ValueError` naming the file when it
    cannot be read, does not parse, or holds something else."""
    import yaml

    try:
        with open(file) as f:
            content = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"dataset {name}: cannot read {file!r}: {error}") from None
    except yaml.YAMLError as error:
        raise ValueError(
            f"dataset {name}: {file!r} is not valid YAML: {_one_line(error)}"
        ) from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ValueError(
            f"dataset {name}: {file!r} holds a {type(content).__name__}; expected "
            "a mapping (`path`, `train`, `val`, `test`, `names`)."
        )
    return content


def class_names_from(names, nc, where):
    """Class names from a data.yaml's `names` and `nc`.

    Args:
        names: A list of names, a dict from index (0 to C-1) to name, or
            `None` (then `nc` names them `class_0`, `class_1`, ...).
        nc: Integer or `None`. When given, the number of names.
        where: String. What to name in an error (the dataset and file).

    Returns:
        A list of strings, in label order.
    """
    if names is None and nc is not None:
        names = [f"class_{i}" for i in range(_count(nc, where))]
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            keys = None
        if keys != list(range(len(names))):
            raise ValueError(
                f"{where}: the keys of `names` must be the class indices 0 to "
                f"{len(names) - 1}; found {list(names)}."
            )
        names = [names[k] if k in names else names[str(k)] for k in keys]
    if names is None or not isinstance(names, list):
        raise ValueError(
            f"{where}: expected `names` as a list or a dict from index to name; "
            f"found {names!r}."
        )
    if not names:
        raise ValueError(f"{where}: the class names list no classes.")
    if nc is not None and _count(nc, where) != len(names):
        raise ValueError(
            f"{where}: `nc` is {nc} but `names` lists {len(names)} classes."
        )
    return [str(n) for n in names]


def _count(nc, where):
    if isinstance(nc, bool) or not isinstance(nc, int) or nc < 1:
        raise ValueError(f"{where}: `nc` must be a positive integer; found {nc!r}.")
    return nc


def read_class_names(path):
    """The class names of a YOLO folder: `classes.txt` (one per line) or the
    `names` of `data.yaml` (a list, or a dict from index to name)."""
    text_file = os.path.join(path, "classes.txt")
    yaml_file = os.path.join(path, "data.yaml")
    name = f"yolo:{path}"
    if os.path.isfile(text_file):
        with open(text_file) as f:
            names = [line.strip() for line in f if line.strip()]
        if not names:
            raise ValueError(f"dataset {name}: the class-name file lists no classes.")
        return names
    if os.path.isfile(yaml_file):
        content = read_yaml(yaml_file, name)
        if content.get("names") is None and content.get("nc") is None:
            raise ValueError(f"dataset {name}: {yaml_file!r} has no `names`.")
        return class_names_from(
            content.get("names"), content.get("nc"), f"dataset {name}: {yaml_file!r}"
        )
    raise ValueError(
        f"dataset {name}: expected the class names in {text_file!r} (one "
        f"per line) or in {yaml_file!r} (`names:`); found neither."
    )


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


def label_file_of(image):
    """The label file of an image by Ultralytics' rule: the last `images`
    folder of its absolute path becomes `labels`, the extension `.txt`
    (`d/images/train/a.jpg` -> `d/labels/train/a.txt`); `None` when the
    path holds no `images` folder."""
    full = os.path.abspath(image)
    marker = f"{os.sep}images{os.sep}"
    if marker not in full:
        return None
    head, tail = full.rsplit(marker, 1)
    return os.path.splitext(os.path.join(head, "labels", tail))[0] + ".txt"


def _read_index(name, files, label_files, class_names, key_files, cache):
    """The records `(file, (w, h), boxes, labels, cut)` of `files`: headers
    and label files read, or with `cache="disk"` an index kept while none of
    `key_files` (the class names' and split files), the images and their
    label files changed (a label file that appears or goes changes the key)."""

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
    columns = cached_index(name, list(key_files) + files + present, read_columns, cache)
    ends = np.cumsum(columns["counts"])
    boxes, labels = columns["boxes"].tolist(), columns["labels"].tolist()
    return [
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


def _has_splits(content):
    return any(
        content.get(k) is not None for k in ("train", "val", "validation", "test")
    )


def _resolve(root, entry):
    """`entry` (a folder or file named in data.yaml) against the root; as
    Ultralytics does, a `../x` that does not exist is tried as `x`."""
    place = os.path.normpath(os.path.join(root, os.path.expanduser(entry)))
    if not os.path.exists(place) and entry.startswith("../"):
        shorter = os.path.normpath(os.path.join(root, entry[3:]))
        if os.path.exists(shorter):
            return shorter
    return place


def _read_list(list_file, root, name):
    """The images a list file names, one a line: `./x` is relative to the
    list file's folder, another relative line to the dataset root."""
    folder = os.path.dirname(list_file)
    try:
        with open(list_file) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(
            f"dataset {name}: cannot read {list_file!r}: {error}"
        ) from None
    files = []
    for number, line in enumerate(lines, 1):
        entry = line.strip()
        if not entry:
            continue
        base = folder if entry.startswith("./") else root
        file = os.path.normpath(os.path.join(base, os.path.expanduser(entry)))
        where = f"dataset {name}: {list_file}:{number}"
        if not is_image_file(file):
            raise ImageFileError(
                f"{where}: {entry!r} is not an image file (one of "
                f"{', '.join(IMAGE_EXTENSIONS)})."
            )
        if not os.path.isfile(file):
            raise ImageFileError(f"{where}: image {file!r} does not exist.")
        files.append(file)
    if not files:
        raise ImageFileError(f"dataset {name}: {list_file!r} lists no images.")
    return files


def _split_files(value, root, key, yaml_file, name):
    """`(images, list_files)` of one split's value in data.yaml: a folder
    (every image under it), a list file, or a YAML list of those."""
    entries = value if isinstance(value, list) else [value]
    where = f"dataset {name}: {yaml_file!r} `{key}`"
    if not entries:
        raise ValueError(f"{where} is an empty list.")
    files, list_files = [], []
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            raise ValueError(
                f"{where} holds {entry!r}; expected a folder or a list file of "
                "images (or a list of them)."
            )
        place = _resolve(root, entry.strip())
        if os.path.isdir(place):
            found = list_images(place)
            if not found:
                raise ImageFileError(f"{where}: folder {place!r} holds no images.")
            files += found
        elif os.path.isfile(place) and not is_image_file(place):
            list_files.append(place)
            files += _read_list(place, root, name)
        elif os.path.isfile(place):
            raise ValueError(
                f"{where}: {place!r} is an image; expected a folder or a list "
                "file of images."
            )
        else:
            raise ValueError(
                f"{where}: {entry!r} is neither a folder nor a list file "
                f"({place!r} does not exist)."
            )
    return files, list_files


def read_data_yaml(yaml_file, name):
    """Reads a data.yaml in Ultralytics' form.

    `path` is the dataset root: absolute, or relative to the yaml file's
    folder (the default). `train`, `val` (or `validation`) and the optional
    `test` are each a folder (every image under it, at any depth), a list
    file (one image a line: a line starting `./` relative to the list
    file's folder, as Ultralytics reads it; another relative line relative
    to the root), or a YAML list of those; relative to the root.

    Args:
        yaml_file: String. The data.yaml.
        name: String. The dataset, for errors.

    Returns:
        `(class_names, splits, read)`: the class names, a dict from
        `"train"`, `"validation"` (and `"test"` when named) to the image
        files, and the yaml and list files read.
    """
    content = read_yaml(yaml_file, name)
    where = f"dataset {name}: {yaml_file!r}"
    if content.get("val") is None and content.get("validation") is not None:
        content["val"] = content["validation"]
    for key in ("train", "val"):
        if content.get(key) is None:
            raise ValueError(
                f"{where} has no `{key}`: a data.yaml with splits names `train` "
                "and `val` (and optionally `test`), each a folder, a list file "
                "of images or a list of them."
            )
    if content.get("names") is None and content.get("nc") is None:
        raise ValueError(f"{where} has no `names` (a list or a dict of classes).")
    class_names = class_names_from(content.get("names"), content.get("nc"), where)
    folder = os.path.dirname(yaml_file)
    root = content.get("path") or folder
    if not isinstance(root, str):
        raise ValueError(f"{where}: `path` is {root!r}; expected a folder.")
    root = os.path.normpath(os.path.join(folder, os.path.expanduser(root)))
    if not os.path.isdir(root):
        raise ValueError(f"{where}: `path` gives {root!r}, not a folder.")
    splits, read = {}, [yaml_file]
    for key, split in YAML_SPLITS:
        if content.get(key) is not None:
            splits[split], lists = _split_files(
                content[key], root, key, yaml_file, name
            )
            read += lists
    return class_names, splits, read


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
    """Loads a YOLO-layout detection dataset: a folder, or a data.yaml.

    A folder without splits: `PATH/images/NAME.jpg` (any sub-folders) with
    `PATH/labels/NAME.txt` beside it in the same sub-folders, one line
    `class cx cy w h` per object (class an index, the box relative to the
    image), the class names in `PATH/classes.txt` or `PATH/data.yaml`
    (`names`); split at random by image with `seed`.

    A data.yaml in Ultralytics' form (`PATH` the file, or a folder whose
    `data.yaml` names a split): its `train`, `val` and optional
    `test` are the splits (`read_data_yaml` says how they are found), and
    `seed`, `validation_fraction` and `test_fraction` do not apply. An
    image's labels are found by Ultralytics' rule: the last `images` folder
    of its path becomes `labels`, the extension `.txt`. Without `test`, the
    val images are scored as the test split too, as the summary says. An
    image in two splits is refused by name.

    Either way an image without a label file has no objects.

    Args:
        path: String. The dataset folder, or its data.yaml (`.yaml`/`.yml`).
        image_size: Integer or `(height, width)`. Images are resized to it.
        max_objects: Positive integer or `None` (every box: the targets are
            padded to the most boxes any image holds). A cap keeps the first
            boxes of an image for training, says in `summary` how many it
            dropped, and leaves `truth` (the scoring) with every box.
        seed: Integer. Seed of the split by image (a folder without splits).
        validation_fraction: Float in (0, 1) (a folder without splits).
        test_fraction: Float in (0, 1) (a folder without splits).
        cache: `"none"`, `"ram"` or `"disk"` (`components.data.streams`).
        verbose: 0 or 1: a progress bar while a cache fills.
        resize: `"stretch"` (to `image_size`, the aspect changes) or
            `"letterbox"` (the aspect kept, black bands; boxes follow).

    Returns:
        A `DetectionSplits` named `"yolo:PATH"`.
    """
    name = f"yolo:{path}"
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
    yaml_file = None
    if os.path.isfile(path):
        if not path.endswith((".yaml", ".yml")):
            raise ValueError(
                f"dataset {name}: expected a folder or a data.yaml file (.yaml, .yml)."
            )
        yaml_file = path
    elif path.endswith((".yaml", ".yml")) and not os.path.isdir(path):
        raise ValueError(f"dataset {name}: no such file.")
    elif os.path.isfile(os.path.join(path, "data.yaml")):
        if _has_splits(read_yaml(os.path.join(path, "data.yaml"), name)):
            yaml_file = os.path.join(path, "data.yaml")
    if yaml_file is not None:
        class_names, splits, read = read_data_yaml(yaml_file, name)
        files, parts = join_splits(splits, name)
        label_files = []
        for file in files:
            label_file = label_file_of(file)
            if label_file is None:
                raise ValueError(
                    f"dataset {name}: image {file!r} has no 'images' folder in "
                    "its path, so it has no label file: YOLO's rule finds an "
                    "image's labels by turning the last 'images' folder of its "
                    "path into 'labels' (d/images/train/a.jpg -> "
                    "d/labels/train/a.txt)."
                )
            label_files.append(label_file)
        records = _read_index(name, files, label_files, class_names, read, cache)
        note = None
        if "test" not in splits:
            note = (
                f"{os.path.basename(yaml_file)} has no test split: the val "
                "images are scored as the test split too"
            )
        return _records_to_splits(
            records, class_names, name, parts=parts, test_note=note, **common
        )
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
    names_files = [
        f
        for f in (os.path.join(path, "classes.txt"), os.path.join(path, "data.yaml"))
        if os.path.isfile(f)
    ]
    records = _read_index(name, files, label_files, class_names, names_files, cache)
    return _records_to_splits(records, class_names, name, **common)
