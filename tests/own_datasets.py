"""Small real datasets written to disk as a user would have them.

Class folders of PNG and JPEG files, an npz, and one detection set written
both as COCO JSON and in the YOLO layout (the same images and boxes), each
easy enough that a few seconds of training learn it.
"""

import json
import os

import numpy as np
from PIL import Image

from components import detection

COLOURS = {"blue": (40, 60, 230), "green": (40, 200, 60), "red": (230, 40, 40)}
SHAPES = ("red", "blue")  # detection classes, in label order


def coloured_image(rng, colour, size):
    """A noisy flat colour: the class is the colour."""
    height, width = size
    pixels = np.asarray(colour) + rng.normal(0, 18, (height, width, 3))
    return np.clip(pixels, 0, 255).astype("uint8")


def write_class_folders(root, per_class=24, size=(12, 12), seed=0):
    """`root/<colour>/<i>.png|.jpg`; returns the class names (sorted)."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            extension = "png" if i % 2 else "jpg"
            Image.fromarray(coloured_image(rng, colour, size)).save(
                os.path.join(root, name, f"{i}.{extension}")
            )
    return sorted(COLOURS)


def write_new_images(root, size=(20, 16), seed=1):
    """One unseen image per colour, at another size; returns `{file: class}`."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    truth = {}
    for name, colour in COLOURS.items():
        path = os.path.join(root, f"{name}.png")
        Image.fromarray(coloured_image(rng, colour, size)).save(path)
        truth[path] = name
    return truth


def grey_arrays(count=90, size=10, seed=0):
    """uint8 grey images whose class (0, 1, 2) is their brightness."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    levels = np.array([40, 128, 215])[labels]
    noise = rng.normal(0, 12, (count, size, size))
    images = np.clip(levels[:, None, None] + noise, 0, 255).astype("uint8")
    return images, labels


def draw_boxes_image(rng, size):
    """A grey noisy image with one coloured rectangle; `(pixels, xywh, label)`."""
    height, width = size
    pixels = np.clip(rng.normal(90, 15, (height, width, 3)), 0, 255)
    label = int(rng.integers(len(SHAPES)))
    w = int(rng.integers(width * 7 // 32, width * 13 // 32))
    h = int(rng.integers(height * 7 // 24, height * 13 // 24))
    x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
    pixels[y : y + h, x : x + w] = COLOURS[SHAPES[label]]
    return pixels.astype("uint8"), [x, y, w, h], label


def write_detection_set(root, count=150, size=(48, 64), seed=0, category_base=7):
    """The same images as COCO (`root/annotations.json`, category ids from
    `category_base`, one crowd box that must be skipped) and YOLO
    (`root/images`, `root/labels`, `root/classes.txt`). Returns the truth:
    a list of `(file, xywh, label)`."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(os.path.join(root, "labels"), exist_ok=True)
    height, width = size
    coco = {
        "images": [],
        "annotations": [],
        "categories": [
            {"id": category_base + i, "name": name} for i, name in enumerate(SHAPES)
        ],
    }
    truth = []
    for i in range(count):
        pixels, (x, y, w, h), label = draw_boxes_image(rng, size)
        name = f"{i:03d}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(pixels).save(os.path.join(root, "images", name))
        with open(os.path.join(root, "labels", f"{i:03d}.txt"), "w") as f:
            f.write(
                f"{label} {(x + w / 2) / width} {(y + h / 2) / height} "
                f"{w / width} {h / height}\n"
            )
        coco["images"].append(
            {
                "id": i + 1,
                "file_name": f"images/{name}",
                "width": width,
                "height": height,
            }
        )
        coco["annotations"].append(
            {
                "id": len(coco["annotations"]) + 1,
                "image_id": i + 1,
                "category_id": category_base + label,
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
            }
        )
        truth.append((os.path.join(root, "images", name), [x, y, w, h], label))
    coco["annotations"].append(  # COCO's crowd regions are not objects to learn
        {
            "id": len(coco["annotations"]) + 1,
            "image_id": 1,
            "category_id": category_base,
            "bbox": [0, 0, 5, 5],
            "area": 25,
            "iscrowd": 1,
        }
    )
    with open(os.path.join(root, "annotations.json"), "w") as f:
        json.dump(coco, f)
    with open(os.path.join(root, "classes.txt"), "w") as f:
        f.write("\n".join(SHAPES) + "\n")
    return truth


def write_new_box_images(folder, count, size, seed=11):
    """Unseen detection images at `size`; returns `{file: (xywh, label)}`."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder)
    truth = {}
    for i in range(count):
        pixels, box, label = draw_boxes_image(rng, size)
        path = os.path.join(folder, f"new{i}.png")
        Image.fromarray(pixels).save(path)
        truth[str(path)] = (box, label)
    return truth


def score_detections(output, truth, size):
    """COCO's results format, with images and categories, scored against the
    boxes the images were drawn with: returns the share of images whose best
    box has the right class at IoU >= 0.5, and pycocotools' mAP@0.5."""
    height, width = size
    assert output["categories"] == [
        {"id": i + 1, "name": name} for i, name in enumerate(SHAPES)
    ]
    assert [(i["width"], i["height"]) for i in output["images"]] == [
        (width, height)
    ] * len(truth)
    hits = 0
    for image in output["images"]:
        box, label = truth[image["file_name"]]
        rows = [r for r in output["detections"] if r["image_id"] == image["id"]]
        if rows:
            best = max(rows, key=lambda r: r["score"])
            hits += best["category_id"] == label + 1 and iou(best["bbox"], box) >= 0.5
    # pycocotools reads the file as results against ground truth on the same ids.
    ground_truth = {
        "images": output["images"],
        "categories": output["categories"],
        "annotations": [
            {
                "id": image["id"],
                "image_id": image["id"],
                "category_id": truth[image["file_name"]][1] + 1,
                "bbox": truth[image["file_name"]][0],
                "area": float(np.prod(truth[image["file_name"]][0][2:])),
                "iscrowd": 0,
            }
            for image in output["images"]
        ],
    }
    scores = detection.coco_evaluate(ground_truth, output["detections"])
    return hits / len(truth), scores["map50"]


def iou(a, b):
    """IoU of two [x, y, w, h] boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
