"""The data summary's object sizes at the network's input, by hand."""

import numpy as np
import pytest
from PIL import Image

from components import data


def _write(root, split, name, size, label_line):
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 90, "uint8")).save(images / name)
    (labels / name.replace(".png", ".txt")).write_text(label_line + "\n")


@pytest.fixture
def two_boxes(tmp_path):
    root = tmp_path / "set"
    # 128 x 64 image, box of 32 x 16 px; 64 x 64 image, box of 40 x 40 px.
    _write(root, "train", "wide.png", (128, 64), "0 0.5 0.5 0.25 0.25")
    _write(root, "train", "square.png", (64, 64), "1 0.5 0.5 0.625 0.625")
    _write(root, "val", "val.png", (64, 64), "0 0.5 0.5 0.5 0.5")
    (root / "data.yaml").write_text(
        "train: images/train\nval: images/val\nnames: [a, b]\n"
    )
    return root


@pytest.mark.parametrize(
    "resize, smallest, under",
    [
        # Letterboxed to 64: the wide image shrinks by half, its box to
        # 16 x 8 px, sqrt(128) = 11.3 px, under 16.
        ("letterbox", np.sqrt(16 * 8), 1),
        # Stretched: 64 / 128 across, 64 / 64 down: 16 x 16, not under 16.
        ("stretch", 16.0, 0),
    ],
)
def test_sizes_are_the_boxes_at_the_input_after_the_resize(
    two_boxes, resize, smallest, under
):
    splits = data.load_detection_files(
        f"yolo:{two_boxes}", image_size=64, resize=resize
    )
    sizes = splits.summary["train"]["objects_at_input"]
    assert sizes["input"] == [64, 64] and sizes["boxes"] == 2
    assert sizes["smallest"] == pytest.approx(smallest, abs=0.05)
    assert sizes["largest"] == pytest.approx(40.0, abs=0.05)
    assert sizes["median"] == pytest.approx((smallest + 40.0) / 2, abs=0.05)
    assert sizes["under_16_px"] == under
    assert splits.summary["validation"]["objects_at_input"]["median"] == 32.0
    lines = data.summary_lines(splits.summary)
    (line,) = [x for x in lines if x.startswith("train objects at the 64x64")]
    # Half the training objects small: the line says what to do about it.
    assert ("--image-size" in line) == (under == 1)


def test_a_split_without_boxes_has_no_sizes_line():
    empty = data.object_sizes(np.full((2, 3, 4), -1.0), np.full((2, 3), -1), (32, 32))
    assert empty["boxes"] == 0 and empty["smallest"] is None
    assert data.object_size_line("train", empty) is None
