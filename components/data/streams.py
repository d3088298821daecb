"""Splits that stream: an index of files, read and decoded inside tf.data.

A file source (`dir:`, `yolo:`, `coco:`) never holds its images: each split
is a `Stream`, an unbatched index (file paths with their labels or boxes)
and a `decode` that reads, decodes and resizes one entry inside tf.data with
parallel calls. Memory does not grow with the number of images. An epoch's
shuffle permutes the index, not decoded images, so the exact resume
(`EpochSeeds`) holds.

`cache` picks what happens to decoded images, in the words other trainers use:

- `"none"` (the default): every epoch decodes the files again. Nothing grows
  with the data set: no memory, no disk. A user with a large set never
  regrets it; decoding runs in parallel beside training
  (`python -m benchmarks.data_scale` measures whether it keeps up).
- `"ram"`: decoded images kept in memory as uint8 (a quarter of float32's
  bytes), for small sets read many times.
- `"disk"`: decoded, resized images written once as raw uint8 files under a
  folder keyed by the files (path, size, modification time) and the
  preprocessing; the next run with the same files and settings reads those
  instead of decoding, and a changed file or setting makes a new folder.

TensorFlow only (tf.data).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from components.checks import invalid_value

CACHES = ("none", "ram", "disk")
CACHE_VERSION = 1  # bump when the cached bytes' meaning changes
CACHE_ROOT_VARIABLE = "KERAS_NOTES_CACHE"


# The image files of every `Stream` made in this process: after tf.data fails
# on one mid-run (its error names no file), `unreadable_file` finds it.
_STREAMED_FILES = []


def unreadable_file(error):
    """An `ImageFileError` naming the streamed file that could not be decoded,
    for a tf.data error `error` raised while reading images; `None` when the
    error is not that, or every streamed file decodes."""
    from components.data.image_files import ImageFileError, find_unreadable

    if not isinstance(error, (tf.errors.InvalidArgumentError, tf.errors.DataLossError)):
        return None
    # Only a decoder's complaint is worth reading every file again for.
    if not re.search(r"jpe?g|png|gif|bmp|image|decod|truncat", str(error), re.I):
        return None
    for files in _STREAMED_FILES:
        found = find_unreadable(files)
        if found is not None:
            return ImageFileError(f"{found[1]} (found while reading the data)")
    return None


def check_cache(cache):
    if cache not in CACHES:
        raise ValueError(invalid_value("cache", cache, f"one of {', '.join(CACHES)}"))
    return cache


def default_cache_root():
    """`$KERAS_NOTES_CACHE`, else `~/.cache/keras-notes`."""
    return os.environ.get(CACHE_ROOT_VARIABLE) or os.path.join(
        os.path.expanduser("~"), ".cache", "keras-notes"
    )


@dataclasses.dataclass(frozen=True)
class Stream:
    """One split as tf.data reads it.

    Args:
        index: Unbatched `tf.data.Dataset` of light elements (file paths with
            labels or boxes), or of whole examples when `decode` is `None`.
        decode: Callable or `None`. Turns one element of `index` into an
            example; run with parallel calls after the shuffle.
        shuffle_buffer: Integer or `None`. For a source read in one order only
            (TFDS), each epoch shuffles through a buffer of this size seeded
            by the epoch; `None`: a full permutation of `index`.
        files: Tuple of the image files the split reads (to name a file that
            turns out bad in the middle of a run).
    """

    index: tf.data.Dataset
    decode: Callable | None = None
    shuffle_buffer: int | None = None
    files: tuple = ()

    def decoded(self):
        """The split's examples in index order."""
        if self.decode is None:
            return self.index
        return self.index.map(self.decode, num_parallel_calls=tf.data.AUTOTUNE)


def read_resized(path, size, channels, antialias=True, resize="stretch"):
    """An image file as uint8 `(height, width, channels)`, resized to `size`.

    Inside tf.data: `tf.io.decode_image` (JPEG, PNG, GIF's first frame, BMP),
    resized in float (`resize`: stretched, or letterboxed as Keras's
    `pad_to_aspect_ratio` does, which the saved model repeats) and rounded
    back to uint8, so that a disk cache and a fresh decode give the same
    pixels.
    """
    raw = tf.io.read_file(path)
    image = tf.io.decode_image(
        raw, channels=channels, expand_animations=False, dtype=tf.uint8
    )
    image = tf.cast(image, tf.float32)
    if resize == "letterbox":
        image = _letterbox(size, antialias)(image)
    else:
        image = tf.image.resize(image, size, antialias=antialias)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
    return tf.ensure_shape(image, (*size, channels))


def _letterbox(size, antialias):
    """Keras's own letterbox, the one the saved model's preprocessing runs
    (a Keras preprocessing layer runs on TensorFlow inside tf.data)."""
    import keras

    return keras.layers.Resizing(
        *size, pad_to_aspect_ratio=True, antialias=antialias, dtype="float32"
    )


def read_raw(path, size, channels):
    """A raw uint8 file of the disk cache as `(height, width, channels)`."""
    flat = tf.io.decode_raw(tf.io.read_file(path), tf.uint8)
    return tf.reshape(flat, (*size, channels))


def files_key(files, settings):
    """A hex key of the files (path, size, modification time) and `settings`.

    Example:

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> open(path, "w").write("x")
    1
    >>> files_key([path], {"size": 8}) == files_key([path], {"size": 8})
    True
    >>> files_key([path], {"size": 8}) == files_key([path], {"size": 16})
    False
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({**settings, "version": CACHE_VERSION}).encode())
    for path in files:
        stat = os.stat(path)
        digest.update(
            f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()[:24]


def cached_index(name, files, build, cache, cache_root=None):
    """`build()` (an index: a dict of NumPy arrays, headers, boxes, labels),
    kept beside the disk caches and reused while `files` are unchanged
    (path, size, modification time): with `cache="disk"`, a warm start of a
    large set reads one file instead of every header and label file. Other
    caches build it every time.

    Args:
        name: String. The source (part of the key).
        files: List of the files `build` reads.
        build: Callable returning the index; its errors pass through
            (nothing is kept).
        cache: `"none"`, `"ram"` or `"disk"`.
        cache_root: Folder of disk caches (default `default_cache_root()`).

    Example:

    >>> import tempfile
    >>> root, calls = tempfile.mkdtemp(), []
    >>> build = lambda: calls.append(1) or {"n": np.arange(3)}
    >>> [cached_index("demo", [], build, "disk", root)["n"].tolist() for _ in "ab"]
    [[0, 1, 2], [0, 1, 2]]
    >>> len(calls)  # built once, then read
    1
    """
    if cache != "disk":
        return build()
    key = files_key(files, {"index": name})
    path = os.path.join(cache_root or default_cache_root(), f"index-{key}.npz")
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {k: stored[k] for k in stored.files}
    except (OSError, ValueError):
        pass  # absent, or cut short by a killed run: built again
    index = build()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = f"{path}.{os.getpid()}.partial.npz"
    np.savez(partial, **index)
    os.replace(partial, path)
    return index


def _decode_all(files, size, channels, antialias, resize="stretch"):
    """Decoded uint8 images of `files`, in order, streamed in batches; a file
    that does not decode is named (`ImageFileError`)."""
    from components.data.image_files import ImageFileError, find_unreadable

    reader = (
        tf.data.Dataset.from_tensor_slices(list(files))
        .map(
            lambda p: read_resized(p, size, channels, antialias, resize),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .batch(64)
        .prefetch(2)
    )
    try:
        yield from reader.as_numpy_iterator()
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as error:
        found = find_unreadable(files)
        if found is None:
            raise
        raise ImageFileError(found[1]) from error


def _progress(count, what):
    import keras

    return keras.utils.Progbar(count, unit_name=what)


def build_disk_cache(
    files, size, channels, antialias, root=None, name="", verbose=1, resize="stretch"
):
    """The raw-cache path of each of `files`, writing the cache if needed.

    The folder is `ROOT/KEY/` with one `NNNNNNNN.u8` per image and a
    `complete.json` written last: a folder without it (a run killed while
    writing) is written again.

    Returns:
        `(paths, reused)`: the cached files in the order of `files`, and
        whether they were there already.
    """
    settings = {
        "size": list(size),
        "channels": channels,
        "antialias": bool(antialias),
        "resize": resize,
        "name": name,
    }
    folder = os.path.join(root or default_cache_root(), files_key(files, settings))
    paths = [os.path.join(folder, f"{i:08d}.u8") for i in range(len(files))]
    marker = os.path.join(folder, "complete.json")
    if os.path.isfile(marker):
        return paths, True
    os.makedirs(folder, exist_ok=True)
    progress = _progress(len(files), "image") if verbose else None
    written = 0
    for batch in _decode_all(files, size, channels, antialias, resize):
        for image in batch:
            with open(paths[written], "wb") as f:
                f.write(image.tobytes())
            written += 1
        if progress:
            progress.update(written)
    with open(marker, "w") as f:
        json.dump({**settings, "images": len(files)}, f)
    return paths, False


def file_stream(
    files,
    targets,
    decode_targets,
    size,
    channels,
    antialias,
    cache="none",
    cache_root=None,
    name="",
    verbose=1,
    resize="stretch",
):
    """A `Stream` over image files and their targets.

    Args:
        files: Sequence of image paths.
        targets: Tuple of arrays, one row per file (labels, boxes, ...).
        decode_targets: `fn(image_float32, *targets) -> example`, building
            the example from the decoded image (float32 in [0, 1]) and the
            file's targets.
        size: `(height, width)`.
        channels: 1 or 3.
        antialias: Boolean. Antialiased resize.
        cache: `"none"`, `"ram"` or `"disk"` (see the module docstring).
        cache_root: Folder of disk caches (default `default_cache_root()`).
        name: String. The source, part of the disk cache's key.
        verbose: 0 or 1: a progress bar while a cache is filled.
        resize: `"stretch"` or `"letterbox"` (`components.data.image_ops`).

    Returns:
        A `Stream`.
    """
    check_cache(cache)
    files = tuple(str(f) for f in files)
    targets = tuple(np.asarray(t) for t in targets)
    if files not in _STREAMED_FILES:
        _STREAMED_FILES.append(files)

    def to_float(image):
        return tf.cast(image, tf.float32) / 255.0

    if cache == "ram":
        images = np.empty((len(files), *size, channels), np.uint8)
        at = 0
        progress = _progress(len(files), "image") if verbose and files else None
        for batch in _decode_all(files, size, channels, antialias, resize):
            images[at : at + len(batch)] = batch
            at += len(batch)
            if progress:
                progress.update(at)
        index = tf.data.Dataset.from_tensor_slices((images, *targets))

        def decode(image, *rest):
            return decode_targets(to_float(image), *rest)

        return Stream(index, decode, files=files)
    if cache == "disk":
        paths, _ = build_disk_cache(
            files, size, channels, antialias, cache_root, name, verbose, resize
        )

        def decode(path, *rest):
            return decode_targets(to_float(read_raw(path, size, channels)), *rest)

    else:
        paths = files

        def decode(path, *rest):
            image = read_resized(path, size, channels, antialias, resize)
            return decode_targets(to_float(image), *rest)

    index = tf.data.Dataset.from_tensor_slices((list(paths), *targets))
    return Stream(index, decode, files=files)


def subset_stream(stream, count, seed):
    """`count` examples of `stream` drawn with `seed`, the same every epoch
    (`--overfit-subset`): drawn from the index, so no image is decoded to
    choose them."""
    size = int(stream.index.cardinality())
    if stream.decode is None:
        # In memory: the pipeline caches the first draw (as it always did).
        index = stream.index.shuffle(size, seed=seed).take(count)
    else:
        index = stream.index.shuffle(
            size, seed=seed, reshuffle_each_iteration=False
        ).take(count)
    index = index.apply(tf.data.experimental.assert_cardinality(count))
    return dataclasses.replace(stream, index=index)
