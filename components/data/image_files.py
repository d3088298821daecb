"""Image files on disk: finding them, checking them, reading them as arrays.

Every source that reads a user's files (`dir:`, `coco:`, `yolo:`) and
`recipes.predict` go through here, so a broken file is reported the same way
everywhere: by its path and what is wrong with it, before TensorFlow sees it.
"""

from __future__ import annotations

import os

import numpy as np

# The formats `keras.utils.image_dataset_from_directory` reads.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

# PIL modes that hold one grey channel (the rest are read as RGB).
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


class ImageFileError(ValueError):
    """An image file that cannot be used, with its path in the message."""


def is_image_file(path):
    return os.path.splitext(str(path))[1].lower() in IMAGE_EXTENSIONS


def list_images(folder, recursive=True):
    """The image files under `folder`, sorted, as Keras's loader lists them."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files) if is_image_file(f)]
        if not recursive:
            break
    return found


def _open(path, decode):
    """`(width, height, channels)` of an image file, its pixels decoded when
    `decode`; an `ImageFileError` naming the file when it cannot be used."""
    from PIL import Image, UnidentifiedImageError

    path = str(path)
    try:
        size = os.path.getsize(path)
    except OSError:
        raise ImageFileError(f"Image file {path!r} does not exist.") from None
    if size == 0:
        raise ImageFileError(f"Image file {path!r} is empty (0 bytes).")
    try:
        with Image.open(path) as image:
            if decode:
                image.load()  # decodes every pixel: catches truncated files too
            width, height = image.size
            channels = 1 if image.mode in _GREY_MODES else 3
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageFileError(
            f"Image file {path!r} cannot be read as an image: {error}"
        ) from None
    if width == 0 or height == 0:
        raise ImageFileError(f"Image file {path!r} has no pixels ({width}x{height}).")
    return width, height, channels


def inspect_image(path):
    """Opens `path` fully; returns `(width, height, channels)` or raises
    `ImageFileError` naming the file (missing, empty, truncated, not an
    image)."""
    return _open(path, decode=True)


def read_header(path):
    """`(width, height, channels)` of an image file from its header alone.

    Cheap enough for every file of a large set before anything is written:
    a missing, empty or unrecognised file raises `ImageFileError` naming it.
    A file whose header is fine but whose pixels are damaged is found when
    it is decoded (`find_unreadable`).
    """
    return _open(path, decode=False)


def find_unreadable(paths):
    """The first of `paths` that cannot be decoded, with why: `(path, reason)`,
    or `None` when all decode. Used after tf.data failed on a file mid-run,
    to name it."""
    for path in paths:
        try:
            inspect_image(path)
        except ImageFileError as error:
            return str(path), str(error)
    return None


def read_image(path, channels):
    """The image at `path` as a uint8 `(height, width, channels)` array.

    Args:
        path: String. An image file.
        channels: 1 (grey) or 3 (RGB). Colour images become grey with PIL's
            ITU-R 601 weights; grey ones are repeated.

    Example:

    >>> import tempfile, os
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> Image.new("RGB", (5, 3), (255, 0, 0)).save(path)
    >>> read_image(path, 3).shape, read_image(path, 1)[0, 0, 0]
    ((3, 5, 3), np.uint8(76))
    """
    from PIL import Image

    inspect_image(path)
    with Image.open(str(path)) as image:
        if image.mode.startswith("I;16"):
            # 16-bit grey: scaled to 8 bits, as TensorFlow's decoder does
            # (PIL's convert("L") would clip everything above 255 to white).
            wide = np.asarray(image, dtype="float64") / 257.0
            array = np.round(wide).astype("uint8")[..., None]
            return array if channels == 1 else np.repeat(array, 3, axis=-1)
        image = image.convert("L" if channels == 1 else "RGB")
        array = np.asarray(image, dtype="uint8")
    return array[..., None] if channels == 1 else array
