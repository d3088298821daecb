"""Use a trained model: images in, classes or boxes out.

Any run directory of `recipes.classify`, `recipes.yolo` or `recipes.rcnn`
holds a `model.keras` that takes raw images and knows its class names; this
command feeds it image files, folders of them or an npz, and writes what it
found:

    python -m recipes.predict runs/classify/RUN photos/ --out top5.json
    python -m recipes.predict runs/yolo/RUN street.jpg --out boxes.json --draw seen/
    python -m recipes.predict runs/classify/RUN/export/model.tflite photos/

An export (`python -m recipes.export`) answers as the `model.keras` it came
from, run by ONNX Runtime or LiteRT, the images resized here as its
training images were.

A classifier's `--out FILE.json` holds a list of `{"file", "top": [{"class",
"score"}, ...]}` (the `--top-k` best classes); a detector's holds COCO's
results format with the images and categories it refers to: `{"images":
[{"id", "file_name", "width", "height"}], "categories": [{"id", "name"}],
"detections": [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]}`,
boxes in each image's own pixels. `--out FILE.csv` writes one row per class
or per box instead. Without `--out` a summary is printed. Exit status 2 on bad
input (a missing or unreadable file, a model this command cannot use).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

import keras
import numpy as np

from components import data, detection
from components.data.image_files import inspect_image, is_image_file
from components.data.image_ops import convert_images
from recipes.run import flags, reports
from recipes.run.saved import load_model

NPZ_KEY = "x"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m recipes.predict",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "model",
        help="A run directory, a model.keras file, or a classifier's export "
        "(python -m recipes.export).",
    )
    parser.add_argument(
        "inputs", nargs="+", help="Image files, folders of images, or .npz files (x)."
    )
    parser.add_argument("--out", help="Write the predictions to FILE.json or .csv.")
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=0.3,
        help="Detectors: lowest score kept (default 0.3).",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=None,
        help="Classes listed per image (default 5); for detectors, most boxes per "
        "image (default 100).",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="Images per batch.")
    parser.add_argument(
        "--draw", help="Detectors: write the images, boxes drawn, here."
    )
    parser.add_argument(
        "--regions",
        type=int,
        default=None,
        help="R-CNN and Fast R-CNN: selective-search regions per image (default: "
        "the run's --regions, else 300).",
    )
    parser.add_argument("--verbose", type=int, default=1, help="0: no progress bar.")
    return parser


def check_args(args):
    if not 0.0 <= args.score_threshold <= 1.0:
        raise ValueError(
            f"Invalid value for --score-threshold: expected a float in [0, 1]; "
            f"received {args.score_threshold}."
        )
    for name in ("top_k", "batch_size", "regions"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(
                f"Invalid value for --{name.replace('_', '-')}: expected a positive "
                f"integer; received {getattr(args, name)}."
            )
    if args.out and os.path.splitext(args.out)[1].lower() not in (".json", ".csv"):
        raise ValueError(f"--out must end in .json or .csv; received {args.out!r}.")


def list_inputs(inputs):
    """`(name, loader)` per image: files, every image in a folder, every row
    of an npz's `x`. Missing paths are refused before anything is read."""
    found = []
    for item in inputs:
        if os.path.isdir(item):
            files = data.list_images(item)
            if not files:
                raise ValueError(f"Folder {item!r} holds no images.")
            found += [(f, f) for f in files]
        elif item.lower().endswith(".npz"):
            images, _ = data.read_npz_images(item, NPZ_KEY)
            pixels = np.round(images * 255).astype("uint8")
            found += [(f"{item}[{i}]", image) for i, image in enumerate(pixels)]
        elif os.path.isfile(item):
            if not is_image_file(item):
                raise ValueError(
                    f"Input {item!r} is not an image (.bmp, .gif, .jpeg, .jpg, "
                    ".png), a folder or an .npz."
                )
            found.append((item, item))
        else:
            raise ValueError(f"Input {item!r} does not exist.")
    return found


def read(source, channels):
    if isinstance(source, str):
        return data.read_image(source, channels)
    if source.shape[-1] != channels:
        converted = convert_images(source / 255.0, None, channels)
        return np.round(np.clip(converted.numpy(), 0, 1) * 255).astype("uint8")
    return source


def batches(items, channels, batch_size):
    """Batches of same-sized images (the model resizes each batch as one)."""
    pending = []
    for index, (_, source) in enumerate(items):
        image = read(source, channels)
        if pending and (
            image.shape != pending[0][1].shape or len(pending) == batch_size
        ):
            yield pending
            pending = []
        pending.append((index, image))
    if pending:
        yield pending


def proposals(model, images, count):
    """Selective-search regions, found at the network's size as in training,
    returned in the images' own pixels."""
    pixels = np.asarray(model.get_layer("preprocessing")(images))
    regions, _ = detection.propose_regions(pixels, count, verbose=0)
    height, width = pixels.shape[1:3]
    scale = np.array([images.shape[2] / width, images.shape[1] / height] * 2)
    return np.where(regions >= 0, regions * scale, regions).astype("float32")


def predict(model, info, items, args, regions=300):
    """Runs the model over `items`; returns per-image outputs in input order."""
    results = [None] * len(items)
    progress = None
    if args.verbose and len(items) > args.batch_size:
        progress = keras.utils.Progbar(len(items), unit_name="image")
    for group in batches(items, info["channels"], args.batch_size):
        images = np.stack([image for _, image in group])
        inputs = images
        if info["needs_rois"]:
            inputs = {"images": images, "rois": proposals(model, images, regions)}
        outputs = model.predict(inputs, verbose=0)
        for row, (index, image) in enumerate(group):
            if info["kind"] == "classifier":
                results[index] = (image.shape, outputs[row])
            else:
                results[index] = (
                    image.shape,
                    {key: np.asarray(value[row]) for key, value in outputs.items()},
                )
        if progress:
            progress.add(len(group))
    return results


def classifier_rows(items, results, class_names, top_k):
    rows = []
    for (name, _), (_, scores) in zip(items, results):
        best = np.argsort(-scores, kind="stable")[:top_k]
        rows.append(
            {
                "file": name,
                "top": [
                    {"class": class_names[i], "score": float(scores[i])} for i in best
                ],
            }
        )
    return rows


def detector_results(items, results, class_names, threshold, top_k):
    """COCO's results format, with the images and categories it refers to."""
    images, rows = [], []
    for image_id, ((name, _), (shape, found)) in enumerate(zip(items, results), 1):
        images.append(
            {"id": image_id, "file_name": name, "width": shape[1], "height": shape[0]}
        )
        count = int(found["num_detections"])
        kept = [i for i in range(count) if found["scores"][i] >= threshold][:top_k]
        for i in kept:
            x0, y0, x1, y1 = (float(v) for v in found["boxes"][i])
            rows.append(
                {
                    "image_id": image_id,
                    "category_id": int(found["labels"][i]) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(found["scores"][i]),
                }
            )
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]
    return {"images": images, "categories": categories, "detections": rows}


def write_csv(path, kind, output):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        if kind == "classifier":
            writer.writerow(["file", "rank", "class", "score"])
            for row in output:
                for rank, top in enumerate(row["top"], 1):
                    writer.writerow([row["file"], rank, top["class"], top["score"]])
            return
        names = {c["id"]: c["name"] for c in output["categories"]}
        files = {i["id"]: i["file_name"] for i in output["images"]}
        writer.writerow(["file", "class", "score", "x", "y", "width", "height"])
        for row in output["detections"]:
            writer.writerow(
                [files[row["image_id"]], names[row["category_id"]], row["score"]]
                + row["bbox"]
            )


def draw(output, items, folder):
    """Copies of the images with their boxes and class names drawn."""
    from PIL import Image, ImageDraw

    os.makedirs(folder, exist_ok=True)
    names = {c["id"]: c["name"] for c in output["categories"]}
    by_image = {}
    for row in output["detections"]:
        by_image.setdefault(row["image_id"], []).append(row)
    written = []
    for info, (_, source) in zip(output["images"], items):
        image = Image.fromarray(read(source, 3))
        pen = ImageDraw.Draw(image)
        for row in by_image.get(info["id"], []):
            x, y, w, h = row["bbox"]
            pen.rectangle([x, y, x + w, y + h], outline=(255, 40, 40), width=2)
            pen.text(
                (x + 2, y + 1),
                f"{names[row['category_id']]} {row['score']:.2f}",
                fill=(255, 255, 0),
            )
        stem = os.path.splitext(os.path.basename(info["file_name"]))[0]
        path = os.path.join(
            folder, f"{info['id']:05d}_{stem.replace('[', '_').rstrip(']')}.png"
        )
        image.save(path)
        written.append(path)
    return written


def summary(kind, output, limit=20):
    if kind == "classifier":
        lines = [
            f"{row['file']}: "
            + ", ".join(f"{t['class']} {t['score']:.3f}" for t in row["top"][:3])
            for row in output
        ]
    else:
        counts = {}
        for row in output["detections"]:
            counts[row["image_id"]] = counts.get(row["image_id"], 0) + 1
        lines = [
            f"{image['file_name']}: {counts.get(image['id'], 0)} detections"
            for image in output["images"]
        ]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more (use --out)"]
    return lines


def main(argv=None):
    """Runs the command; returns the predictions (the `--out` content)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with flags.usage_errors(parser):
        check_args(args)
        model, info, config = load_model(args.model)
        if args.draw and info["kind"] != "detector":
            raise ValueError("--draw is for detectors; this model is a classifier.")
        items = list_inputs(args.inputs)
        for _, source in items:  # every file opened before any is scored
            if isinstance(source, str):
                inspect_image(source)
    regions = args.regions or config.get("regions", 300)
    if args.top_k is None:
        args.top_k = 5 if info["kind"] == "classifier" else 100
    results = predict(model, info, items, args, regions)
    if info["kind"] == "classifier":
        output = classifier_rows(items, results, info["class_names"], args.top_k)
    else:
        output = detector_results(
            items, results, info["class_names"], args.score_threshold, args.top_k
        )
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        if args.out.lower().endswith(".csv"):
            write_csv(args.out, info["kind"], output)
        else:
            reports.atomic_write_json(args.out, output)
    if args.draw:
        draw(output, items, args.draw)
    lines = summary(info["kind"], output)
    if args.out:
        lines.append(f"wrote {args.out}")
    if args.draw:
        lines.append(f"drew {len(items)} images in {args.draw}")
    print("\n".join(lines))
    return output


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
