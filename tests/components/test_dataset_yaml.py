"""Named splits: an Ultralytics data.yaml (`yolo:`) and a COCO JSON per split."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from components import data
from tests.own_datasets import SHAPES, draw_boxes_image, write_detection_set

pytestmark = pytest.mark.backend_independent  # TensorFlow-only data code

SIZE = (48, 64)  # height, width of every image written here
LOADED = 32  # --image-size of the loads


def write_image(image_file, rng, labelled=True):
    """One box image at `image_file`, its YOLO label file by Ultralytics' rule
    (unless not `labelled`); returns its "xyxy" box in the loaded pixels and
    its label."""
    height, width = SIZE
    pixels, (x, y, w, h), label = draw_boxes_image(rng, SIZE)
    os.makedirs(os.path.dirname(image_file), exist_ok=True)
    Image.fromarray(pixels).save(image_file)
    if labelled:
        label_file = data.yolo_source.label_file_of(image_file)
        os.makedirs(os.path.dirname(label_file), exist_ok=True)
        with open(label_file, "w") as f:
            f.write(
                f"{label} {(x + w / 2) / width} {(y + h / 2) / height} "
                f"{w / width} {h / height}\n"
            )
    sx, sy = LOADED / width, LOADED / height
    return [x * sx, y * sy, (x + w) * sx, (y + h) * sy], label


def write_split_folders(root, counts=(("train", 6), ("val", 3), ("test", 2)), seed=0):
    """`root/images/<split>/<split>_<i>.png|jpg` with `root/labels/<split>/`;
    returns `{split: {file: (box, label)}}`."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, count in counts:
        written[split] = {}
        for i in range(count):
            file = os.path.join(
                root, "images", split, f"{split}_{i}.{'png' if i % 2 else 'jpg'}"
            )
            written[split][file] = write_image(file, rng)
    return written


def write_yaml(file, **content):
    import yaml

    with open(file, "w") as f:
        yaml.safe_dump(content, f)


def load(spec, **kwargs):
    return data.load_detection_files(spec, image_size=LOADED, **kwargs)


def check_split(splits, split, written):
    """The split's files are exactly `written`'s, in the stream and the
    truth, with each image's box and label."""
    files = splits.stream(split).files
    assert sorted(files) == sorted(written)
    assert splits.sizes[split] == len(written)
    boxes, labels = splits.truth[split]
    for file, box, label in zip(files, boxes, labels):
        expected_box, expected_label = written[file]
        assert label[0] == expected_label and (label[1:] < 0).all()
        np.testing.assert_allclose(box[0], expected_box, atol=1e-4)


def test_a_data_yaml_with_explicit_splits_is_honoured(tmp_path):
    root = tmp_path / "set"
    written = write_split_folders(str(root))
    (tmp_path / "config").mkdir()
    yaml_file = tmp_path / "config" / "data.yaml"
    # `path` relative to the yaml's folder; names a dict; nc agrees.
    write_yaml(
        yaml_file,
        path="../set",
        train="images/train",
        val="images/val",
        test="images/test",
        nc=2,
        names={0: "red", 1: "blue"},
    )
    splits = load(f"yolo:{yaml_file}")
    assert splits.name == f"yolo:{yaml_file}"
    assert splits.class_names == SHAPES and splits.image_shape == (32, 32, 3)
    assert splits.sizes == {"test": 2, "validation": 3, "train": 6}
    for key, split in (("train", "train"), ("val", "validation"), ("test", "test")):
        check_split(splits, split, written[key])
    assert not any("note" in part for part in splits.summary.values())
    # The pixels streamed are the listed images'.
    example = next(iter(splits.validation.take(1).as_numpy_iterator()))
    assert example["images"].shape == (32, 32, 3)
    # The folder holding such a data.yaml (no `path`: the yaml's folder)
    # gives the same splits; the seed does not move them.
    write_yaml(
        root / "data.yaml",
        train="images/train",
        val="images/val",
        test="images/test",
        names=["red", "blue"],
    )
    again = load(f"yolo:{root}", seed=5)
    for split in ("train", "validation", "test"):
        assert again.stream(split).files == splits.stream(split).files


def test_list_files_and_yaml_lists_name_the_images(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "set"
    # `./x` lines are relative to the list file's folder, other lines to the
    # root: the two images of lists/train.txt lie in different places.
    near = write_image(str(root / "lists" / "near" / "images" / "a.png"), rng)
    far = write_image(str(root / "images" / "pool" / "b.png"), rng)
    extra = write_image(str(root / "images" / "pool" / "c.jpg"), rng)
    (root / "lists" / "train.txt").write_text(
        "./near/images/a.png\n\nimages/pool/b.png\n"
    )
    val_folder = write_split_folders(str(root), counts=(("val", 2),), seed=2)["val"]
    (root / "lists" / "val.txt").write_text("images/pool/c.jpg\n")
    write_yaml(
        root / "data.yaml",
        train="lists/train.txt",
        val=["images/val", "lists/val.txt"],  # a folder and a list file
        names=["red", "blue"],
    )
    splits = load(f"yolo:{root / 'data.yaml'}")
    check_split(
        splits,
        "train",
        {
            str(root / "lists" / "near" / "images" / "a.png"): near,
            str(root / "images" / "pool" / "b.png"): far,
        },
    )
    check_split(
        splits,
        "validation",
        {**val_folder, str(root / "images" / "pool" / "c.jpg"): extra},
    )


def test_without_a_test_split_the_val_images_are_scored_and_said_so(tmp_path):
    root = tmp_path / "set"
    written = write_split_folders(str(root), counts=(("train", 4), ("val", 3)))
    # An image without a label file is background, as in a folder.
    os.remove(data.yolo_source.label_file_of(sorted(written["val"])[0]))
    write_yaml(root / "data.yaml", train="images/train", val="images/val", names=SHAPES)
    splits = load(f"yolo:{root}")
    assert splits.sizes == {"test": 3, "validation": 3, "train": 4}
    assert splits.stream("test").files == splits.stream("validation").files
    for a, b in zip(splits.truth["test"], splits.truth["validation"]):
        np.testing.assert_array_equal(a, b)
    assert splits.truth["validation"][1][:, 0].tolist().count(-1) == 1
    note = (
        "data.yaml has no test split: the val images are scored as the test split too"
    )
    assert splits.summary["test"]["note"] == note
    assert note in data.summary_lines(splits.summary)
    assert splits.summary["test"]["images"] == 3


def _in_two_splits(root):
    (root / "val.txt").write_text("images/val/val_0.jpg\nimages/train/train_1.png\n")
    return {"val": "val.txt"}


def _missing_listed_image(root):
    (root / "t.txt").write_text("images/train/train_0.jpg\nx.png\n")
    return {"train": "t.txt"}


@pytest.mark.parametrize(
    "change, message",
    [
        (_in_two_splits, r"train_1\.png' is in both the train and the validation"),
        (
            lambda root: {"val": "images/nope"},
            r"`val`: 'images/nope' is neither a folder nor a list file .*not exist",
        ),
        (lambda root: {"nc": 3}, r"`nc` is 3 but `names` lists 2 classes"),
        (lambda root: {"val": None}, r"data\.yaml' has no `val`"),
        (_missing_listed_image, r"t\.txt:2: image .*x\.png' does not exist"),
        (
            lambda root: {"val": "elsewhere"},
            r"/elsewhere/v\.png' has no 'images' folder in its path",
        ),
        (
            lambda root: {"names": {0: "red", 2: "blue"}},
            r"keys of `names` must be the class indices 0 to 1",
        ),
    ],
    ids=[
        "in-two-splits",
        "missing-val",
        "nc",
        "no-val",
        "missing-image",
        "no-images-folder",
        "names-keys",
    ],
)
def test_a_bad_data_yaml_is_refused_by_name(tmp_path, change, message):
    root = tmp_path / "set"
    write_split_folders(str(root), counts=(("train", 3), ("val", 2)))
    os.makedirs(root / "elsewhere")
    Image.new("RGB", (8, 8)).save(root / "elsewhere" / "v.png")
    content = {"train": "images/train", "val": "images/val", "names": SHAPES}
    content.update(change(root))
    write_yaml(
        root / "data.yaml", **{k: v for k, v in content.items() if v is not None}
    )
    with pytest.raises(ValueError, match=message) as error:
        load(f"yolo:{root / 'data.yaml'}")
    assert "\n" not in str(error.value)


def test_a_folder_whose_data_yaml_only_names_classes_keeps_the_seeded_split(tmp_path):
    write_detection_set(tmp_path / "a", count=20)
    write_detection_set(tmp_path / "b", count=20)
    os.remove(tmp_path / "b" / "classes.txt")
    write_yaml(tmp_path / "b" / "data.yaml", names={0: "red", 1: "blue"})
    with_text = load(f"yolo:{tmp_path / 'a'}")
    with_yaml = load(f"yolo:{tmp_path / 'b'}")
    assert (
        with_text.sizes == with_yaml.sizes == {"train": 14, "validation": 2, "test": 4}
    )
    for split in ("train", "validation", "test"):
        names = [os.path.basename(f) for f in with_yaml.stream(split).files]
        assert names == [os.path.basename(f) for f in with_text.stream(split).files]
    assert not any("note" in part for part in with_yaml.summary.values())


def test_a_data_yaml_index_is_cached_and_follows_a_new_label_file(
    tmp_path, monkeypatch
):
    from components.data import yolo_source

    monkeypatch.setenv("KERAS_NOTES_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "set"
    written = write_split_folders(str(root), counts=(("train", 3), ("val", 2)))
    background = sorted(written["train"])[0]
    label_file = yolo_source.label_file_of(background)
    line = open(label_file).read()
    os.remove(label_file)
    write_yaml(root / "data.yaml", train="images/train", val="images/val", names=SHAPES)
    cold = load(f"yolo:{root}", cache="disk")

    def no_reading(*args):
        raise AssertionError("read a file the index cache holds")

    with monkeypatch.context() as patch:
        patch.setattr(yolo_source, "read_header", no_reading)
        patch.setattr(yolo_source, "_read_yolo_labels", no_reading)
        warm = load(f"yolo:{root}", cache="disk")
    assert warm.summary == cold.summary
    # A label file appears for the background image: the index is read again.
    with open(label_file, "w") as f:
        f.write(line)
    changed = load(f"yolo:{root}", cache="disk")
    assert cold.summary["train"]["boxes"] == 2
    assert changed.summary["train"]["boxes"] == 3
    # The yaml is part of the key: one class name fewer checks the labels again.
    assert any(label == 1 for split in written.values() for _, label in split.values())
    write_yaml(root / "data.yaml", train="images/train", val="images/val", names=["a"])
    with pytest.raises(ValueError, match=r"class 1 is out of range"):
        load(f"yolo:{root}", cache="disk")


def _coco_parts(root, groups):
    """`root/annotations.json` cut into one file per group of image indices."""
    content = json.loads((root / "annotations.json").read_text())
    paths = []
    for part, indices in groups.items():
        ids = {content["images"][i]["id"] for i in indices}
        piece = {
            "images": [im for im in content["images"] if im["id"] in ids],
            "annotations": [a for a in content["annotations"] if a["image_id"] in ids],
            "categories": content["categories"],
        }
        path = root / f"{part}.json"
        path.write_text(json.dumps(piece))
        paths.append(path)
    return paths


def test_coco_takes_one_annotation_file_per_split(tmp_path):
    root = tmp_path / "set"
    truth = write_detection_set(root, count=10)
    train, val = _coco_parts(root, {"train": range(7), "val": range(7, 10)})
    splits = load(f"coco:{train},{val}")
    assert splits.class_names == SHAPES
    assert splits.sizes == {"test": 3, "validation": 3, "train": 7}
    files = [file for file, _, _ in truth]
    assert list(splits.stream("train").files) == files[:7]
    assert list(splits.stream("validation").files) == files[7:]
    assert splits.stream("test").files == splits.stream("validation").files
    assert (
        "validation images are scored as the test split too"
        in (splits.summary["test"]["note"])
    )
    # Three files, the JSONs elsewhere with their images folder named.
    parts = _coco_parts(root, {"a": range(5), "b": range(5, 8), "c": range(8, 10)})
    os.makedirs(tmp_path / "json")
    moved = [tmp_path / "json" / p.name for p in parts]
    for old, new in zip(parts, moved):
        os.rename(old, new)
    spec = ",".join(f"{p}:{root}" for p in moved)
    three = load(f"coco:{spec}")
    assert three.sizes == {"test": 2, "validation": 3, "train": 5}
    assert list(three.stream("test").files) == files[8:]
    assert not any("note" in part for part in three.summary.values())
    # The boxes are the drawn ones, scaled.
    boxes, labels = three.truth["test"]
    for (_, (x, y, w, h), label), box, found in zip(truth[8:], boxes, labels):
        assert found[0] == label
        sx, sy = LOADED / 64, LOADED / 48
        np.testing.assert_allclose(
            box[0], [x * sx, y * sy, (x + w) * sx, (y + h) * sy], atol=1e-4
        )


def test_coco_files_per_split_are_refused_by_name(tmp_path):
    root = tmp_path / "set"
    write_detection_set(root, count=6)
    train, val = _coco_parts(root, {"train": range(4), "val": range(4, 6)})
    content = json.loads(val.read_text())
    content["categories"][1]["name"] = "green"
    val.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=r"categories of .*val\.json' differ.*green"):
        load(f"coco:{train},{val}")
    train, val = _coco_parts(root, {"train": range(4), "val": range(3, 6)})
    with pytest.raises(ValueError, match=r"003\.png' is in both the train and the"):
        load(f"coco:{train},{val}")
    with pytest.raises(ValueError, match=r"2 or 3 annotation files"):
        load(f"coco:{train},{val},{val},{val}")
