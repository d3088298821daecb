"""`dir:PATH`: a folder with one sub-folder of images per class."""

from __future__ import annotations

import os

import numpy as np

from components.data.image_files import ImageFileError, inspect_image, list_images
from components.data.image_ops import check_channels, check_image_size
from components.data.splits import from_arrays


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
):
    """Loads a folder of class folders as stratified `DatasetSplits`.

    The layout is the one `keras.utils.image_dataset_from_directory` reads
    (`PATH/cat/1.jpg`, `PATH/dog/7.png`, ...), and that function reads it;
    class names come from the folder names, in sorted order. Every file is
    opened first, so a broken one is reported by its path instead of failing
    inside TensorFlow mid-epoch. The images are held in memory.

    Args:
        path: String. The folder.
        image_size: Integer, `(height, width)` or `None`: keep the images' own
            size, which must then be the same for all of them.
        channels: 1, 3 or `None`: 1 when every image is grey, else 3.
        seed: Integer. Seed of the stratified split.
        validation_fraction: Float in (0, 1).
        test_fraction: Float in (0, 1).

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
    import keras

    image_size = check_image_size(image_size)
    channels = check_channels(channels)
    files = _class_folders(path)
    found = {}
    for paths in files.values():
        for file in paths:
            found[file] = inspect_image(file)
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
    dataset = keras.utils.image_dataset_from_directory(
        path,
        labels="inferred",
        label_mode="int",
        class_names=list(files),
        color_mode="grayscale" if channels == 1 else "rgb",
        batch_size=None,
        image_size=image_size,
        shuffle=False,
        verbose=False,
    )
    images, labels = [], []
    for image, label in dataset.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    images = np.clip(np.stack(images) / 255.0, 0.0, 1.0).astype("float32")
    return from_arrays(
        images,
        np.asarray(labels, "int32"),
        num_classes=len(files),
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
        name=f"dir:{path}",
        class_names=tuple(files),
        # Keras's loader resizes without antialiasing; the saved model must
        # resize new images the same way.
        antialias=False,
    )
