"""`dir:PATH`: a folder with one sub-folder of images per class."""

from __future__ import annotations

import os

import numpy as np

from components.data.image_files import ImageFileError, list_images, read_header
from components.data.image_ops import check_channels, check_image_size
from components.data.splits import (
    DatasetSplits,
    check_split_sizes,
    stratified_split_indices,
)
from components.data.streams import cached_index, check_cache, file_stream


def _class_folders(path):
    if not os.path.isdir(path):
        raise ValueError(f"dataset dir:{path}: {path!r} is not a folder.")
    classes = sorted(
        name
        for name in os.listdir(path)
        if os.path.isdir(os.path.join(path, name)) and not name.startswith(".")
    )
    if len(classes) < 2:
        raise ValueError(
            f"dataset dir:{path}: expected one sub-folder of images per class, at "
            f"least two; found {len(classes)} ({', '.join(classes) or 'none'})."
        )
    files = {}
    for name in classes:
        files[name] = list_images(os.path.join(path, name))
        if not files[name]:
            raise ImageFileError(
                f"dataset dir:{path}: class folder {os.path.join(path, name)!r} "
                "holds no images (.bmp, .gif, .jpeg, .jpg or .png)."
            )
    return files


def load_image_folder(
    path,
    image_size=None,
    channels=None,
    seed=0,
    validation_fraction=0.1,
    test_fraction=0.2,
    cache="none",
    cache_root=None,
    verbose=0,
):
    """Loads a folder of class folders as stratified, streaming `DatasetSplits`.

    The layout is the one `keras.utils.image_dataset_from_directory` reads
    (`PATH/cat/1.jpg`, `PATH/dog/7.png`, ...), class names from the folder
    names in sorted order. Every file's header is read first (size and
    colour), so a missing or unrecognised file is reported by its path
    before anything is written; the images themselves are read, decoded and
    resized inside tf.data as training iterates them (`Stream`), resized
    without antialiasing as Keras's loader does. Memory does not grow with
    the number of images.

    Args:
        path: String. The folder.
        image_size: Integer, `(height, width)` or `None`: keep the images' own
            size, which must then be the same for all of them.
        channels: 1, 3 or `None`: 1 when every image is grey, else 3.
        seed: Integer. Seed of the stratified split.
        validation_fraction: Float in (0, 1).
        test_fraction: Float in (0, 1).
        cache: `"none"`, `"ram"` or `"disk"` (`components.data.streams`).
        cache_root: Folder of disk caches (default `~/.cache/keras-notes`).
        verbose: 0 or 1: a progress bar while a cache fills.

    Returns:
        A `DatasetSplits` named `"dir:PATH"`, images in [0, 1].

    Example:

    >>> import os, tempfile
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> for name, grey in (("dark", 20), ("light", 230)):
    ...     os.makedirs(os.path.join(root, name))
    ...     for i in range(10):
    ...         Image.new("L", (6, 6), grey).save(os.path.join(root, name, f"{i}.png"))
    >>> splits = load_image_folder(root)
    >>> splits.class_names, splits.input_shape, splits.sizes["train"]
    (('dark', 'light'), (6, 6, 1), 14)
    """
    image_size = check_image_size(image_size)
    channels = check_channels(channels)
    check_cache(cache)
    files = _class_folders(path)
    every = [file for paths in files.values() for file in paths]
    headers = cached_index(
        f"dir:{path}",
        every,
        lambda: {"headers": np.array([read_header(f) for f in every], "int64")},
        cache,
        cache_root,
    )["headers"].tolist()
    found = dict(zip(every, map(tuple, headers)))
    if image_size is None:
        sizes = {(h, w) for w, h, _ in found.values()}
        if len(sizes) > 1:
            examples = {}
            for file, (w, h, _) in found.items():
                examples.setdefault((h, w), file)
            shown = ", ".join(
                f"{f!r} is {w}x{h}" for (h, w), f in list(examples.items())[:2]
            )
            raise ValueError(
                f"dataset dir:{path}: the images differ in size ({shown}); pass "
                "`image_size` (--image-size) to resize them all."
            )
        image_size = sizes.pop()
    if channels is None:
        channels = 1 if all(c == 1 for *_, c in found.values()) else 3
    paths = np.array([file for names in files.values() for file in names])
    labels = np.array(
        [label for label, names in enumerate(files.values()) for _ in names], "int32"
    )
    parts = stratified_split_indices(labels, validation_fraction, test_fraction, seed)
    check_split_sizes(
        parts, f"dataset dir:{path}: ", validation_fraction, test_fraction
    )

    def example(image, label):
        return image, label

    streams = {
        key: file_stream(
            paths[index],
            (labels[index],),
            example,
            image_size,
            channels,
            # Keras's loader resizes without antialiasing; the saved model
            # must resize new images the same way.
            antialias=False,
            cache=cache,
            cache_root=cache_root,
            name=f"dir:{key}",
            verbose=verbose,
        )
        for key, index in parts.items()
    }
    return DatasetSplits(
        name=f"dir:{path}",
        num_classes=len(files),
        input_shape=(*image_size, channels),
        sizes={k: int(len(v)) for k, v in parts.items()},
        class_names=tuple(files),
        antialias=False,
        streams=streams,
        **{key: stream.decoded() for key, stream in streams.items()},
    )
