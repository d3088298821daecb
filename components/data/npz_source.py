"""`npz:PATH`: images and labels in one NumPy `.npz` file."""

from __future__ import annotations

import os

import numpy as np

from components.data.image_ops import check_channels, check_image_size, convert_images
from components.data.splits import from_arrays


def _fail(path, message):
    raise ValueError(f"dataset npz:{path}: {message}")


def read_npz_images(path, name="x"):
    """The array `name` of an npz as float32 images `(n, h, w, c)` in [0, 1].

    uint8 arrays hold pixels 0-255; float arrays must already lie in [0, 1]
    (anything else is ambiguous and refused). A 3-D array is grey images.
    """
    if not os.path.isfile(path):
        _fail(path, "no such file.")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        _fail(path, f"cannot be read as a .npz file: {error}")
    with arrays:
        if name not in arrays:
            _fail(path, f"expected an array {name!r}; found {sorted(arrays.files)}.")
        images = arrays[name]
        rest = {key: arrays[key] for key in arrays.files if key != name}
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        _fail(
            path,
            f"{name!r} must have shape (N, H, W) or (N, H, W, 1 or 3); received "
            f"{images.shape}.",
        )
    if images.dtype == np.uint8:
        if len(images) == 0:
            _fail(path, f"{name!r} holds no images.")
        return images.astype("float32") / 255.0, rest
    if not np.issubdtype(images.dtype, np.floating):
        _fail(
            path,
            f"{name!r} must be uint8 (0-255) or float in [0, 1]; received "
            f"dtype {images.dtype}.",
        )
    if len(images) == 0:
        _fail(path, f"{name!r} holds no images.")
    if not np.all(np.isfinite(images)):
        bad = np.flatnonzero(~np.isfinite(images).reshape(len(images), -1).all(axis=1))
        _fail(
            path, f"{name!r} holds NaN or infinite values (images {bad[:5].tolist()})."
        )
    low, high = float(images.min()), float(images.max())
    if low < 0.0 or high > 1.0:
        _fail(
            path,
            f"float {name!r} must lie in [0, 1] (uint8 arrays may hold 0-255); "
            f"its values span [{low:g}, {high:g}].",
        )
    return images.astype("float32"), rest


def load_npz(
    path,
    image_size=None,
    channels=None,
    seed=0,
    validation_fraction=0.1,
    test_fraction=0.2,
):
    """Loads `x` (N, H, W[, C]) and `y` (N,) from an npz as `DatasetSplits`.

    Args:
        path: String. A `.npz` with arrays `x` (uint8 pixels, or floats in
            [0, 1]), `y` (integer labels from 0) and optionally `class_names`.
        image_size: Integer, `(height, width)` or `None` (keep the arrays').
        channels: 1, 3 or `None` (keep the arrays').
        seed: Integer. Seed of the stratified split.
        validation_fraction: Float in (0, 1).
        test_fraction: Float in (0, 1).

    Returns:
        A `DatasetSplits` named `"npz:PATH"`.

    Example:

    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> x = np.zeros((20, 4, 4), "uint8")
    >>> np.savez(path, x=x, y=np.arange(20) % 2, class_names=["a", "b"])
    >>> splits = load_npz(path)
    >>> splits.class_names, splits.input_shape
    (('a', 'b'), (4, 4, 1))
    """
    image_size = check_image_size(image_size)
    channels = check_channels(channels)
    images, rest = read_npz_images(path)
    if "y" not in rest:
        _fail(path, f"expected an array 'y' of labels; found {sorted(rest)}.")
    labels = rest["y"]
    if labels.shape != (len(images),):
        _fail(
            path,
            f"'x' holds {len(images)} images but 'y' has shape {labels.shape}; "
            "expected one label per image.",
        )
    if not np.issubdtype(labels.dtype, np.integer):
        _fail(path, f"'y' must hold integer labels; received dtype {labels.dtype}.")
    names = tuple(str(v) for v in rest.get("class_names", ()))
    num_classes = len(names) or int(labels.max()) + 1
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        _fail(
            path,
            f"labels must lie in [0, {num_classes}); found {labels[bad][:5].tolist()} "
            f"at indices {np.flatnonzero(bad)[:5].tolist()}.",
        )
    if image_size is not None or channels is not None:
        images = np.clip(convert_images(images, image_size, channels).numpy(), 0, 1)
    return from_arrays(
        images,
        labels,
        num_classes=num_classes,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
        name=f"npz:{path}",
        class_names=names,
    )
