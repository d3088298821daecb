"""A drawn-shapes detection set, written as a user would have it: Ultralytics' layout.

Circles, squares and triangles (the classes), each 6-30% of its image's
shorter side in size, 1-8 an image, in random colours on gradient-and-noise
backgrounds; JPEGs of random sizes from 160 to 480 px a side. Written as
`ROOT/images/{train,val,test}/*.jpg`, `ROOT/labels/{train,val,test}/*.txt`
(`class cx cy w h`, relative) and `ROOT/data.yaml` naming the splits, so that
`--dataset yolo:ROOT` and Ultralytics' `data=ROOT/data.yaml` read the same
files. Deterministic for a seed.

    python -m benchmarks.shapes /tmp/shapes                # 700 / 150 / 150
    python -m benchmarks.shapes /tmp/shapes --train 100 --val 20 --test 20

Example:

>>> import tempfile
>>> counts = write_shapes(tempfile.mkdtemp(), {"train": 3, "val": 1, "test": 1})
>>> sorted(counts), counts["train"]["images"]
(['test', 'train', 'val'], 3)
"""

from __future__ import annotations

import argparse
import os

import numpy as np

CLASSES = ("circle", "square", "triangle")
SIZES = (160, 480)  # image sides, pixels
OBJECT_FRACTION = (0.06, 0.30)  # of the shorter side
OBJECTS = (1, 8)
MAX_IOU = 0.2  # between two shapes of one image


def background(rng, width, height):
    """A linear gradient between two random grey-ish colours, plus noise."""
    start, end = rng.uniform(30, 220, 3), rng.uniform(30, 220, 3)
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width].astype("float32")
    t = (x / width - 0.5) * np.cos(angle) + (y / height - 0.5) * np.sin(angle) + 0.5
    t = np.clip(t, 0, 1)[..., None]
    pixels = start * (1 - t) + end * t + rng.normal(0, 12, (height, width, 3))
    return np.clip(pixels, 0, 255).astype("uint8")


def _iou(box, boxes):
    found = []
    for other in boxes:
        w = min(box[2], other[2]) - max(box[0], other[0])
        h = min(box[3], other[3]) - max(box[1], other[1])
        inter = max(0.0, w) * max(0.0, h)
        area = (box[2] - box[0]) * (box[3] - box[1])
        area_other = (other[2] - other[0]) * (other[3] - other[1])
        found.append(inter / (area + area_other - inter))
    return max(found, default=0.0)


def draw_image(rng):
    """`(PIL image, boxes "xyxy" pixels, labels)` of one image."""
    from PIL import Image, ImageDraw

    width, height = (int(v) for v in rng.integers(SIZES[0], SIZES[1] + 1, 2))
    image = Image.fromarray(background(rng, width, height))
    draw = ImageDraw.Draw(image)
    boxes, labels = [], []
    shorter = min(width, height)
    for _ in range(rng.integers(OBJECTS[0], OBJECTS[1] + 1)):
        label = int(rng.integers(len(CLASSES)))
        side = rng.uniform(*OBJECT_FRACTION) * shorter
        for _attempt in range(30):
            x0 = rng.uniform(0, width - side)
            y0 = rng.uniform(0, height - side)
            box = [x0, y0, x0 + side, y0 + side]
            if _iou(box, boxes) <= MAX_IOU:
                break
        else:
            continue  # no room left for it
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if CLASSES[label] == "circle":
            draw.ellipse(box, fill=colour)
        elif CLASSES[label] == "square":
            draw.rectangle(box, fill=colour)
        else:  # pointing up or down: the box is the vertices' box either way
            top, bottom = (y0, y0 + side) if rng.random() < 0.5 else (y0 + side, y0)
            draw.polygon(
                [(x0, bottom), (x0 + side, bottom), (x0 + side / 2, top)], fill=colour
            )
        boxes.append(box)
        labels.append(label)
    return image, np.asarray(boxes, "float64").reshape(-1, 4), labels


def write_shapes(root, counts=None, seed=0, quality=90):
    """Writes the set under `root`; returns per split the images and boxes.

    Args:
        root: String. The dataset folder (made if missing).
        counts: Dict of images per split (`train`, `val`, `test`); default
            700 / 150 / 150.
        seed: Integer. Each split draws from its own stream of it.
        quality: JPEG quality.
    """
    counts = counts or {"train": 700, "val": 150, "test": 150}
    summary = {}
    for offset, (split, count) in enumerate(counts.items()):
        rng = np.random.default_rng([seed, offset])
        images = os.path.join(root, "images", split)
        labels = os.path.join(root, "labels", split)
        os.makedirs(images, exist_ok=True)
        os.makedirs(labels, exist_ok=True)
        total = 0
        for index in range(count):
            image, boxes, classes = draw_image(rng)
            name = f"{split}_{index:05d}"
            image.save(os.path.join(images, name + ".jpg"), quality=quality)
            width, height = image.size
            with open(os.path.join(labels, name + ".txt"), "w") as f:
                for (x0, y0, x1, y1), label in zip(boxes, classes):
                    f.write(
                        f"{label} {(x0 + x1) / 2 / width:.6f} "
                        f"{(y0 + y1) / 2 / height:.6f} {(x1 - x0) / width:.6f} "
                        f"{(y1 - y0) / height:.6f}\n"
                    )
            total += len(classes)
        summary[split] = {"images": count, "boxes": total}
    with open(os.path.join(root, "data.yaml"), "w") as f:
        f.write(f"path: {os.path.abspath(root)}\n")
        for split in counts:
            f.write(f"{split}: images/{split}\n")
        f.write("names:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASSES)))
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.shapes",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("root", help="Folder to write the set into.")
    parser.add_argument("--train", type=int, default=700)
    parser.add_argument("--val", type=int, default=150)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("train", "val", "test"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer")
    summary = write_shapes(
        args.root, {"train": args.train, "val": args.val, "test": args.test}, args.seed
    )
    for split, figures in summary.items():
        print(f"{split}: {figures['images']} images, {figures['boxes']} boxes")
    print(f"dataset: yolo:{args.root}  (Ultralytics: data={args.root}/data.yaml)")
    return summary


if __name__ == "__main__":
    main()
