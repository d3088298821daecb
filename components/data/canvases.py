"""Digit canvases: an offline object-detection dataset made of real handwriting."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from components.checks import check_positive_int, invalid_value
from components.data.digits import digits_arrays, digits_split_indices

INK_THRESHOLD = 0.2  # a glyph pixel at or above this is ink: boxes enclose the ink


@dataclasses.dataclass(frozen=True)
class DetectionSplits:
    """Train / validation / test splits of an object-detection dataset.

    Each split is an unbatched `tf.data.Dataset` of dicts in Keras's
    bounding-box layout: `{"images": (height, width, channels) float32 in
    [0, 1], "bounding_boxes": {"boxes": (max_objects, 4) float32 "xyxy" pixels,
    "labels": (max_objects,) int32}}`, padded with boxes of -1 and labels of -1.

    Args:
        name: String. Where the data came from.
        train, validation, test: `tf.data.Dataset`s as above.
        num_classes: Integer. Labels lie in `[0, num_classes)`.
        image_shape: Tuple `(height, width, channels)`.
        max_objects: Integer. Padded number of boxes per image.
        sizes: Dict of example counts keyed by split.
        class_names: Tuple of strings.
        streams: Dict or `None`. For a source that streams from files, the
            `Stream` of each split (`stream(split)`).
        truth: Dict or `None`. Per split, `(boxes, labels)` of every box in
            the files (padded with -1 to the most any image holds), in the
            pixels of the resized images: what detections are scored
            against, even where `max_objects` cut the training targets.
        summary: Dict or `None`. What was loaded (`data_summary`).
        originals: Dict or `None`. For a source of image files, per split,
            `ImageFrames`: each image's file and its own size, and how it
            met the input, so boxes can go back to its pixels.
    """

    name: str
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int
    image_shape: tuple
    max_objects: int
    sizes: dict
    class_names: tuple = ()
    streams: dict | None = None
    truth: dict | None = None
    summary: dict | None = None
    originals: dict | None = None

    def stream(self, split):
        """The split as a `Stream` (a file source's index and decoder, or the
        in-memory dataset)."""
        from components.data.streams import Stream

        if split not in ("train", "validation", "test"):
            raise ValueError(
                invalid_value("split", split, "one of 'train', 'validation', 'test'")
            )
        if self.streams and split in self.streams:
            return self.streams[split]
        return Stream(getattr(self, split))


def _background(rng, size):
    """A smooth random texture plus pixel noise, darker than the ink."""
    from PIL import Image

    coarse = rng.random((size // 8 + 2, size // 8 + 2)).astype("float32")
    smooth = np.asarray(
        Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC)
    )
    smooth = (smooth - smooth.min()) / (np.ptp(smooth) + 1e-6)
    return 0.3 * rng.uniform(0.2, 1.0) * smooth + rng.normal(0, 0.04, (size, size))


def _textured(rng, size):
    """Stripes, a checkerboard or blobs (the texture dataset's patterns) at
    random contrast, under a smooth gradient, with pixel noise: edges
    everywhere, as on real backgrounds, and still darker than the ink."""
    from components.data.textures import TEXTURE_CLASSES, _texture

    y, x = np.mgrid[0:size, 0:size].astype("float32") / size
    kind = TEXTURE_CLASSES[rng.integers(len(TEXTURE_CLASSES))]
    # A period of 8-20 px whatever the canvas size: as fine as the digits'
    # strokes, so that a detector must tell strokes from texture.
    scale = size / 40
    pattern = 0.5 + 0.5 * _texture(kind, x * scale, y * scale, rng)  # in [0, 1]
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle) + 0.5
    contrast = rng.uniform(0.15, 0.4)
    return (
        contrast * pattern + 0.15 * gradient + rng.normal(0, 0.04, (size, size))
    ).astype("float32")


BACKGROUNDS = {"smooth": _background, "textured": _textured}


def _glyph(image, height, width):
    from PIL import Image

    resized = Image.fromarray(image[..., 0].astype("float32"), mode="F").resize(
        (width, height), Image.BILINEAR
    )
    return np.clip(np.asarray(resized), 0.0, 1.0)


def _iou(box, boxes):
    if not len(boxes):
        return np.zeros(0)
    boxes = np.asarray(boxes)
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def digit_canvases(
    glyphs,
    num_images,
    canvas_size=112,
    max_objects=4,
    glyph_size=(20, 44),
    max_iou=0.05,
    seed=0,
    progress=True,
    background="smooth",
):
    """Draws canvases holding 1 to `max_objects` handwritten digits each.

    Each glyph (a scikit-learn 8x8 digit) is scaled to a random size (aspect
    jittered by up to 20%), placed at a random position where its box overlaps
    no earlier box by more than `max_iou`, and drawn (as the brighter of ink
    and background) on a smooth random texture with pixel noise. Its box is
    the tight box of its ink pixels (value >= 0.2 after scaling), in "xyxy"
    pixel coordinates, recorded exactly. Deterministic for a seed.

    Args:
        glyphs: `(images, labels)`: `(n, 8, 8, 1)` floats in [0, 1], int labels.
        num_images: Positive integer. Canvases to draw.
        canvas_size: Integer >= 32. Side of the square canvases.
        max_objects: Positive integer. Most digits per canvas.
        glyph_size: `(min, max)` side of a scaled glyph, in pixels.
        max_iou: Float in [0, 1). Largest IoU allowed between two boxes.
        seed: Integer. Seed of every random choice.
        progress: Boolean. Show a progress bar.
        background: `"smooth"` (a smooth random texture with pixel noise) or
            `"textured"` (stripes, checkerboards or blobs under a gradient:
            edges everywhere, as on real backgrounds).

    Returns:
        A dict of NumPy arrays: `images` `(num_images, size, size, 1)`, `boxes`
        `(num_images, max_objects, 4)` and `labels` `(num_images, max_objects)`,
        padded with -1.

    Example:

    >>> from components.data import digits_arrays
    >>> canvases = digit_canvases(digits_arrays(), 3, canvas_size=64,
    ...                           glyph_size=(16, 24), progress=False)
    >>> canvases["images"].shape, canvases["boxes"].shape
    ((3, 64, 64, 1), (3, 4, 4))
    """
    check_positive_int("num_images", num_images)
    check_positive_int("canvas_size", canvas_size, 32)
    check_positive_int("max_objects", max_objects)
    low, high = glyph_size
    if not 8 <= low <= high <= canvas_size:
        raise ValueError(
            invalid_value(
                "glyph_size",
                glyph_size,
                "(min, max) with 8 <= min <= max <= canvas_size",
            )
        )
    if not 0.0 <= max_iou < 1.0:
        raise ValueError(invalid_value("max_iou", max_iou, "a float in [0, 1)"))
    if background not in BACKGROUNDS:
        raise ValueError(
            invalid_value("background", background, f"one of {sorted(BACKGROUNDS)}")
        )
    draw_background = BACKGROUNDS[background]
    rng = np.random.default_rng(seed)
    images_in, labels_in = glyphs
    images = np.zeros((num_images, canvas_size, canvas_size, 1), "float32")
    boxes = -np.ones((num_images, max_objects, 4), "float32")
    labels = -np.ones((num_images, max_objects), "int32")
    bar = keras.utils.Progbar(num_images, unit_name="canvas") if progress else None
    for index in range(num_images):
        canvas = draw_background(rng, canvas_size)
        placed = []
        for _ in range(rng.integers(1, max_objects + 1)):
            pick = rng.integers(len(images_in))
            side = rng.integers(low, high + 1)
            height = int(np.clip(side * rng.uniform(0.9, 1.1), 8, canvas_size))
            width = int(np.clip(side * rng.uniform(0.8, 1.0), 8, canvas_size))
            glyph = _glyph(images_in[pick], height, width)
            rows = np.flatnonzero((glyph >= INK_THRESHOLD).any(axis=1))
            cols = np.flatnonzero((glyph >= INK_THRESHOLD).any(axis=0))
            for _attempt in range(30):
                top = rng.integers(0, canvas_size - height + 1)
                left = rng.integers(0, canvas_size - width + 1)
                box = np.array(
                    [
                        left + cols[0],
                        top + rows[0],
                        left + cols[-1] + 1,
                        top + rows[-1] + 1,
                    ],
                    "float32",
                )
                if (_iou(box, [b for b, _ in placed]) <= max_iou).all():
                    ink = glyph * rng.uniform(0.75, 1.0)
                    patch = canvas[top : top + height, left : left + width]
                    canvas[top : top + height, left : left + width] = np.maximum(
                        patch, ink
                    )
                    placed.append((box, int(labels_in[pick])))
                    break
        for slot, (box, label) in enumerate(placed):
            boxes[index, slot], labels[index, slot] = box, label
        images[index, ..., 0] = np.clip(canvas, 0.0, 1.0)
        if bar is not None and ((index + 1) % 50 == 0 or index + 1 == num_images):
            bar.update(index + 1)
    return {"images": images, "boxes": boxes, "labels": labels}


def as_detection_dataset(canvases):
    """A `tf.data.Dataset` of Keras bounding-box dicts from `digit_canvases`."""
    return tf.data.Dataset.from_tensor_slices(
        {
            "images": canvases["images"],
            "bounding_boxes": {
                "boxes": canvases["boxes"],
                "labels": canvases["labels"],
            },
        }
    )


def load_digit_canvases(
    train_images=4000,
    validation_images=300,
    test_images=500,
    canvas_size=112,
    max_objects=4,
    glyph_size=(20, 44),
    seed=0,
    progress=True,
    max_iou=0.05,
    background="smooth",
):
    """The digit-canvas detection dataset, split so test handwriting is unseen.

    The digits are split once (stratified, seed 0, as `load_digits`): training
    canvases draw glyphs from the training digits only, validation canvases
    from the validation digits and test canvases from the test digits, so no
    handwriting scored at test time was seen in training.

    Args:
        train_images, validation_images, test_images: Positive integers.
        canvas_size: Integer >= 32.
        max_objects: Positive integer. Most digits per canvas.
        glyph_size: `(min, max)` side of a glyph in pixels.
        seed: Integer. Seed of the drawing (each split its own stream).
        progress: Boolean. Show progress while drawing.
        max_iou: Float in [0, 1). Largest IoU between two digits' boxes.
        background: `"smooth"` or `"textured"` (`digit_canvases`).

    Returns:
        A `DetectionSplits` named `"digit_canvases"` with 10 classes
        (`"digit_canvases_hard"` with textured backgrounds).

    Example:

    >>> splits = load_digit_canvases(4, 2, 2, canvas_size=64,
    ...                              glyph_size=(16, 24), progress=False)
    >>> splits.image_shape, splits.num_classes, splits.sizes
    ((64, 64, 1), 10, {'train': 4, 'validation': 2, 'test': 2})
    """
    images, labels = digits_arrays()
    parts = digits_split_indices(seed=0)
    counts = {
        "train": train_images,
        "validation": validation_images,
        "test": test_images,
    }
    datasets = {}
    for offset, (split, count) in enumerate(counts.items()):
        index = parts[split]
        canvases = digit_canvases(
            (images[index], labels[index]),
            count,
            canvas_size,
            max_objects,
            glyph_size,
            max_iou,
            seed=seed * 3 + offset,
            progress=progress,
            background=background,
        )
        datasets[split] = as_detection_dataset(canvases)
    return DetectionSplits(
        name="digit_canvases" if background == "smooth" else "digit_canvases_hard",
        num_classes=10,
        image_shape=(canvas_size, canvas_size, 1),
        max_objects=max_objects,
        sizes=dict(counts),
        class_names=tuple(str(d) for d in range(10)),
        **datasets,
    )
