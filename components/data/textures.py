"""Synthetic textures: an offline dataset that looks nothing like handwriting."""

from __future__ import annotations

import numpy as np

from components.checks import check_positive_int
from components.data.image_ops import check_channels, check_image_size, convert_images
from components.data.splits import from_arrays

TEXTURE_CLASSES = ("horizontal", "vertical", "diagonal", "checkerboard", "blobs")


def _stripes(x, y, angle, rng):
    frequency = rng.uniform(2.0, 5.0)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    along = x * np.cos(angle) + y * np.sin(angle)
    return np.sin(2.0 * np.pi * frequency * along + phase)


def _texture(kind, x, y, rng):
    jitter = np.deg2rad(rng.uniform(-10.0, 10.0))
    if kind == "horizontal":
        return _stripes(x, y, np.pi / 2 + jitter, rng)
    if kind == "vertical":
        return _stripes(x, y, jitter, rng)
    if kind == "diagonal":
        return _stripes(x, y, rng.choice([np.pi / 4, 3 * np.pi / 4]) + jitter, rng)
    if kind == "checkerboard":
        return _stripes(x, y, jitter, rng) * _stripes(x, y, np.pi / 2 + jitter, rng)
    field = np.zeros_like(x)
    for _ in range(rng.integers(3, 9)):
        cx, cy = rng.uniform(0.0, 1.0, 2)
        width = rng.uniform(0.05, 0.12)
        field += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
    return 2.0 * field / field.max() - 1.0


def texture_arrays(per_class, image_size=32, seed=0, noise=0.1):
    """Draws `per_class` images of each of the five texture classes.

    Stripes at three orientations (each jittered by up to 10 degrees, random
    frequency and phase), checkerboards and Gaussian blobs, with random
    contrast and additive noise. Deterministic for a given seed.

    Args:
        per_class: Positive integer. Images per class.
        image_size: Positive integer. Side of the square images.
        seed: Integer. Seed of every random choice.
        noise: Float >= 0. Standard deviation of the additive Gaussian noise.

    Returns:
        `(images, labels)`: float32 `(5 * per_class, size, size, 1)` in [0, 1]
        and int32 labels indexing `TEXTURE_CLASSES`.

    Example:

    >>> images, labels = texture_arrays(2, image_size=8)
    >>> images.shape, labels.tolist()
    ((10, 8, 8, 1), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    """
    check_positive_int("per_class", per_class)
    check_positive_int("image_size", image_size)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:image_size, 0:image_size] / image_size
    images, labels = [], []
    for label, kind in enumerate(TEXTURE_CLASSES):
        for _ in range(per_class):
            contrast = rng.uniform(0.5, 1.0)
            image = 0.5 + 0.5 * contrast * _texture(kind, x, y, rng)
            image = image + rng.normal(0.0, noise, image.shape)
            images.append(np.clip(image, 0.0, 1.0))
            labels.append(label)
    images = np.asarray(images, "float32")[..., None]
    return images, np.asarray(labels, "int32")


def load_textures(
    image_size=32,
    channels=None,
    per_class=200,
    seed=0,
    validation_fraction=0.1,
    test_fraction=0.2,
):
    """Loads the synthetic textures as stratified `DatasetSplits`.

    A target for transfer learning that is "very different from the original
    dataset" (the notes) when the original is handwriting: oriented stripes,
    checkerboards and blobs, with no strokes and no digit shapes.

    Args:
        image_size: Integer or `None` (32). Side of the square images.
        channels: 1, 3 or `None` (1).
        per_class: Positive integer. Images drawn per class before splitting.
        seed: Integer. Seed of the drawing and of the split.
        validation_fraction: Float in (0, 1). Share of each class for validation.
        test_fraction: Float in (0, 1). Share of each class for testing.

    Returns:
        A `DatasetSplits` named `"textures"`.

    Example:

    >>> splits = load_textures(image_size=16, per_class=20)
    >>> splits.input_shape, splits.num_classes, splits.sizes["test"]
    ((16, 16, 1), 5, 20)
    """
    size = check_image_size(image_size) or (32, 32)
    channels = check_channels(channels)
    images, labels = texture_arrays(per_class, size[0], seed)
    if size[0] != size[1] or channels == 3:
        images = convert_images(images, size, channels).numpy()
    return from_arrays(
        images,
        labels,
        num_classes=len(TEXTURE_CLASSES),
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
        name="textures",
        class_names=TEXTURE_CLASSES,
    )
