"""A user's own data: class folders, npz, COCO JSON and YOLO labels, read and refused."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from components import data
from tests.own_datasets import (
    SHAPES,
    grey_arrays,
    write_class_folders,
    write_detection_set,
)

pytestmark = pytest.mark.backend_independent  # TensorFlow-only data code


def test_class_folders_load_with_their_names_and_pixels(tmp_path):
    names = write_class_folders(tmp_path, per_class=20)
    splits = data.load(f"dir:{tmp_path}", seed=0)
    assert splits.class_names == tuple(names) == ("blue", "green", "red")
    assert splits.input_shape == (12, 12, 3) and splits.num_classes == 3
    assert splits.sizes == {"train": 42, "validation": 6, "test": 12}
    assert not splits.antialias  # Keras's loader does not antialias
    # Pixels are the files' own, scaled to [0, 1] (a PNG is lossless).
    x, y = splits.as_numpy("train")
    png = np.asarray(Image.open(tmp_path / "red" / "1.png"), "float32") / 255.0
    assert np.abs(x - png).reshape(len(x), -1).max(axis=1).min() < 1e-6
    assert np.bincount(y).tolist() == [14, 14, 14]
    # A grey request converts; a size request resizes.
    grey = data.load(f"dir:{tmp_path}", image_size=6, channels=1)
    assert grey.input_shape == (6, 6, 1)


def test_mixed_sizes_need_an_image_size(tmp_path):
    write_class_folders(tmp_path, per_class=10)
    Image.new("RGB", (30, 20)).save(tmp_path / "red" / "big.png")
    with pytest.raises(ValueError, match=r"differ in size.*--image-size"):
        data.load(f"dir:{tmp_path}")
    assert data.load(f"dir:{tmp_path}", image_size=8).input_shape == (8, 8, 3)


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda root: (root / "red" / "3.png").write_bytes(b""), r"3\.png.*empty"),
        (
            lambda root: (root / "red" / "3.png").write_bytes(b"not a png at all"),
            r"3\.png.*cannot be read",
        ),
        (lambda root: os.makedirs(root / "purple"), r"purple.*holds no images"),
    ],
    ids=["empty-file", "unreadable", "empty-class"],
)
def test_broken_class_folders_name_the_file(tmp_path, break_it, message):
    write_class_folders(tmp_path, per_class=6)
    break_it(tmp_path)
    with pytest.raises(ValueError, match=message):
        data.load(f"dir:{tmp_path}")


def test_a_folder_needs_two_class_folders(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        data.load(f"dir:{tmp_path / 'missing'}")
    os.makedirs(tmp_path / "only")
    with pytest.raises(ValueError, match="at least two"):
        data.load(f"dir:{tmp_path}")


def test_npz_reads_uint8_pixels_and_class_names(tmp_path):
    images, labels = grey_arrays(60)
    path = tmp_path / "d.npz"
    np.savez(path, x=images, y=labels, class_names=["dark", "mid", "light"])
    splits = data.load(f"npz:{path}", seed=3)
    assert splits.class_names == ("dark", "mid", "light")
    assert splits.input_shape == (10, 10, 1)
    x, y = splits.as_numpy("test")
    # Each test image is one of the file's, divided by 255, with its label.
    flat = images.reshape(len(images), -1) / 255.0
    for image, label in zip(x, y):
        match = np.flatnonzero(np.abs(flat - image.reshape(-1)).max(axis=1) < 1e-6)
        assert len(match) == 1 and labels[match[0]] == label
    # Floats in [0, 1] are taken as they are.
    np.savez(tmp_path / "f.npz", x=images / 255.0, y=labels)
    assert data.load(f"npz:{tmp_path / 'f.npz'}").class_names == ("0", "1", "2")


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((10, 4, 4), "uint8"), "y": np.zeros(9, int)}, "10 images"),
        ({"x": np.zeros((10, 4, 4), "uint8")}, "expected an array 'y'"),
        ({"y": np.zeros(10, int)}, "expected an array 'x'"),
        (
            {
                "x": np.zeros((10, 4, 4), "uint8"),
                "y": np.arange(10) % 3,
                "class_names": ["a", "b"],
            },
            r"labels must lie in \[0, 2\); found \[2",
        ),
        ({"x": np.full((10, 4, 4), 3.0), "y": np.arange(10) % 2}, r"span \[3, 3\]"),
        ({"x": np.zeros((10, 4), "uint8"), "y": np.arange(10) % 2}, "must have shape"),
        ({"x": np.zeros((10, 4, 4), "uint8"), "y": np.full(10, 0.5)}, "integer labels"),
    ],
    ids=["lengths", "no-y", "no-x", "label-range", "float-range", "ndim", "float-y"],
)
def test_bad_npz_names_the_file_and_the_problem(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        data.load(f"npz:{path}")
    assert str(path) in str(info.value)


def test_coco_and_yolo_give_the_same_boxes(tmp_path):
    truth = write_detection_set(tmp_path, count=20)
    coco = data.load_detection_files(
        f"coco:{tmp_path / 'annotations.json'}", image_size=56, max_objects=3
    )
    yolo = data.load_detection_files(f"yolo:{tmp_path}", image_size=56, max_objects=3)
    for splits in (coco, yolo):
        assert splits.class_names == SHAPES and splits.num_classes == 2
        assert splits.image_shape == (56, 56, 3)
        assert splits.sizes == {"train": 14, "validation": 2, "test": 4}
    expected = {}
    for file, (x, y, w, h), label in truth:  # 64x48 images resized to 56x56
        sx, sy = 56 / 64, 56 / 48
        expected[file] = ([x * sx, y * sy, (x + w) * sx, (y + h) * sy], label)
    for split in ("train", "validation", "test"):
        a = list(getattr(coco, split).as_numpy_iterator())
        b = list(getattr(yolo, split).as_numpy_iterator())
        for left, right in zip(a, b):
            np.testing.assert_allclose(left["images"], right["images"], atol=1e-6)
            for key in ("boxes", "labels"):
                np.testing.assert_allclose(
                    left["bounding_boxes"][key], right["bounding_boxes"][key], atol=1e-4
                )
    # Every image's single box is its own truth, scaled; the crowd box is gone.
    found = [
        (e["bounding_boxes"]["boxes"][0], int(e["bounding_boxes"]["labels"][0]))
        for split in ("train", "validation", "test")
        for e in getattr(coco, split).as_numpy_iterator()
    ]
    for boxes, label in found:
        matches = [
            f
            for f, (box, lab) in expected.items()
            if lab == label and np.allclose(box, boxes, atol=1e-3)
        ]
        assert len(matches) >= 1
    counts = [
        int((e["bounding_boxes"]["labels"] >= 0).sum())
        for split in ("train", "validation", "test")
        for e in getattr(coco, split).as_numpy_iterator()
    ]
    assert counts == [1] * 20


def _edit_json(path, change):
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda c: c["annotations"][0].update(bbox=[50, 10, 30, 10]),
            r"annotation 1 of 'images/000.jpg'.*outside its 64x48 image",
        ),
        (
            lambda c: c["annotations"][0].update(category_id=99),
            r"annotation 1 of 'images/000.jpg' has category_id 99",
        ),
        (lambda c: c["images"][0].update(width=100), r"000\.jpg.*is 64x48 but"),
        (
            lambda c: c["images"][0].update(file_name="gone.png"),
            r"gone\.png.*not exist",
        ),
        (lambda c: c.pop("categories"), r"missing \['categories'\]"),
    ],
    ids=["box-outside", "category", "size", "missing-image", "format"],
)
def test_bad_coco_names_the_annotation(tmp_path, change, message):
    write_detection_set(tmp_path, count=6)
    path = tmp_path / "annotations.json"
    _edit_json(path, change)
    with pytest.raises(ValueError, match=message):
        data.load_detection_files(f"coco:{path}", image_size=56)


def test_coco_images_may_live_elsewhere(tmp_path):
    write_detection_set(tmp_path / "set", count=6)
    os.rename(tmp_path / "set" / "annotations.json", tmp_path / "ann.json")
    with pytest.raises(ValueError, match="does not exist"):
        data.load_detection_files(f"coco:{tmp_path / 'ann.json'}", image_size=56)
    splits = data.load_detection_files(
        f"coco:{tmp_path / 'ann.json'}:{tmp_path / 'set'}", image_size=56
    )
    assert sum(splits.sizes.values()) == 6
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable JSON"):
        data.load_detection_files(f"coco:{tmp_path / 'broken.json'}", image_size=56)


@pytest.mark.parametrize(
    "line, message",
    [
        ("2 0.5 0.5 0.2 0.2", r"002\.txt:1: class 2 is out of range.*\[0, 2\)"),
        ("0 0.95 0.5 0.2 0.2", r"002\.txt:1: the box .* lies outside its image"),
        ("0 0.5 0.5 0.2", r"002\.txt:1: expected 'class cx cy w h'"),
        ("0 0.5 0.5 0 0.2", r"002\.txt:1: the box has no area"),
    ],
    ids=["label-range", "box-outside", "malformed", "no-area"],
)
def test_bad_yolo_labels_name_file_and_line(tmp_path, line, message):
    write_detection_set(tmp_path, count=6)
    (tmp_path / "labels" / "002.txt").write_text(line + "\n")
    with pytest.raises(ValueError, match=message):
        data.load_detection_files(f"yolo:{tmp_path}", image_size=56)


def test_yolo_class_names_from_data_yaml_and_background_images(tmp_path):
    write_detection_set(tmp_path, count=6)
    os.remove(tmp_path / "classes.txt")
    with pytest.raises(ValueError, match=r"classes\.txt.*data\.yaml"):
        data.load_detection_files(f"yolo:{tmp_path}", image_size=56)
    (tmp_path / "data.yaml").write_text("names:\n  0: red\n  1: blue\n")
    os.remove(tmp_path / "labels" / "004.txt")  # no label file: no objects
    splits = data.load_detection_files(f"yolo:{tmp_path}", image_size=56)
    assert splits.class_names == SHAPES
    counts = sorted(
        int((e["bounding_boxes"]["labels"] >= 0).sum())
        for split in ("train", "validation", "test")
        for e in getattr(splits, split).as_numpy_iterator()
    )
    assert counts == [0, 1, 1, 1, 1, 1]
    (tmp_path / "images" / "001.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"001\.png.*empty"):
        data.load_detection_files(f"yolo:{tmp_path}", image_size=56)


def test_edge_cases_are_refused_by_name(tmp_path):
    # A COCO box entirely in the 1-pixel overhang past the right edge.
    write_detection_set(tmp_path / "coco", count=6)
    path = tmp_path / "coco" / "annotations.json"
    _edit_json(path, lambda c: c["annotations"][0].update(bbox=[64.2, 10, 0.5, 5]))
    with pytest.raises(ValueError, match=r"annotation 1 .*outside its 64x48 image"):
        data.load_detection_files(f"coco:{path}", image_size=56)
    # A YOLO field that is not a finite number.
    write_detection_set(tmp_path / "yolo", count=6)
    (tmp_path / "yolo" / "labels" / "001.txt").write_text("0 nan 0.5 0.2 0.2\n")
    with pytest.raises(ValueError, match=r"001\.txt:1: expected .*finite numbers"):
        data.load_detection_files(f"yolo:{tmp_path / 'yolo'}", image_size=56)
    # Non-finite and empty npz images.
    x = np.full((10, 4, 4), 0.5)
    x[3, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.arange(10) % 2)
    with pytest.raises(ValueError, match=r"nan\.npz.*NaN or infinite.*\[3\]"):
        data.load(f"npz:{tmp_path / 'nan.npz'}")
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 4, 4), "uint8"), y=np.zeros(0, int))
    with pytest.raises(ValueError, match=r"empty\.npz.*no images"):
        data.load(f"npz:{tmp_path / 'empty.npz'}")


def test_16_bit_grey_pngs_are_scaled_as_tensorflow_decodes_them(tmp_path):
    import tensorflow as tf

    ramp = (np.arange(64 * 16).reshape(16, 64) * 64).astype("uint16")
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    ours = data.read_image(str(tmp_path / "deep.png"), 1)
    theirs = (
        tf.io.decode_png(
            tf.io.read_file(str(tmp_path / "deep.png")), channels=1, dtype=tf.uint16
        ).numpy()
        / 257.0
    )
    assert np.abs(ours.astype("float64") - theirs).max() <= 0.5
    assert 0.0 < np.mean(ours == 255) < 0.01  # not clipped to white
