"""Region proposals for R-CNN and Fast R-CNN: selective search (OpenCV).

Fixed, not learned: OpenCV's selective search (Uijlings et al., 2013) over
graph-based segmentations, from `opencv-contrib-python-headless`. Runs on
NumPy images, outside the model, which is exactly the test-time cost that
Faster R-CNN's region proposal network removes.
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np

from components.checks import check_positive_int, invalid_value

# Felzenszwalb-Huttenlocher segmentations at two scales (k), each grouped by
# colour + size + fill similarity: measured on 112 x 112 digit canvases, 100%
# of the digits have a region with IoU >= 0.5 (94% >= 0.7) among ~250
# regions, in 23 ms per image (OpenCV's "fast" preset: 97% at 60 ms, since
# it finds only ~20 regions on images this small).
SEGMENTATION_SCALES = (50, 150)
SEGMENTATION_SIGMA = 0.8
SEGMENTATION_MIN_SIZE = 10


def selective_search(image, max_regions=300, min_side=4, seed=0):
    """Selective-search regions of one image.

    Args:
        image: `(height, width, channels)` array, values in [0, 1] or [0, 255].
        max_regions: Positive integer. Most regions returned.
        min_side: Non-negative number. Regions narrower or lower than this
            many pixels are dropped.
        seed: Integer. OpenCV ranks regions with a random factor it does not
            let one seed, so the distinct regions are put in an order drawn
            from `seed` instead: a reproducible, uniformly random subset when
            there are more than `max_regions`.

    Returns:
        Float32 array `(n, 4)` of "xyxy" pixel boxes, `n <= max_regions`,
        without duplicates.

    Example:

    >>> image = np.zeros((32, 32, 1), "float32")
    >>> image[8:20, 10:18] = 1.0
    >>> regions = selective_search(image, max_regions=50)
    >>> bool(((regions == [10, 8, 18, 20]).all(axis=1)).any())  # the square
    True
    """
    import cv2

    check_positive_int("max_regions", max_regions)
    image = np.asarray(image, "float32")
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(
            "Invalid value received for argument `image`. Expected (height, width, "
            f"1 or 3). Received: image.shape={image.shape}"
        )
    scale = 255.0 if image.max() <= 1.0 else 1.0
    pixels = np.clip(image * scale, 0, 255).astype("uint8")
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    segmentation = getattr(getattr(cv2, "ximgproc", None), "segmentation", None)
    if segmentation is None:
        # Another package's opencv-python (Ultralytics installs it) put its
        # cv2, without the contrib modules, over opencv-contrib-python's.
        raise ImportError(
            "Selective search needs OpenCV's contrib modules (cv2.ximgproc), "
            f"which the installed cv2 ({cv2.__file__}) lacks: another package's "
            "opencv-python replaced them. Restore them with `pip install "
            "--force-reinstall --no-deps opencv-contrib-python-headless`."
        )
    search = segmentation.createSelectiveSearchSegmentation()
    search.addImage(np.ascontiguousarray(pixels))
    for k in SEGMENTATION_SCALES:
        search.addGraphSegmentation(
            segmentation.createGraphSegmentation(
                SEGMENTATION_SIGMA, k, SEGMENTATION_MIN_SIZE
            )
        )
    search.addStrategy(
        segmentation.createSelectiveSearchSegmentationStrategyMultiple(
            segmentation.createSelectiveSearchSegmentationStrategyColor(),
            segmentation.createSelectiveSearchSegmentationStrategySize(),
            segmentation.createSelectiveSearchSegmentationStrategyFill(),
        )
    )
    rects = np.asarray(search.process(), "float32").reshape(-1, 4)
    rects = rects[(rects[:, 2] >= min_side) & (rects[:, 3] >= min_side)]
    boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
    boxes = np.unique(boxes, axis=0)
    order = np.random.default_rng(seed).permutation(len(boxes))
    return boxes[order[:max_regions]]


def propose_regions(
    images, max_regions=300, min_side=4, seed=0, workers=None, verbose=1
):
    """Selective search over a stack of images, padded to one array.

    Args:
        images: `(N, height, width, channels)` array.
        max_regions: Positive integer. Regions per image (rows past an
            image's count are -1 padding).
        min_side: Non-negative number. Smallest region side kept, in pixels.
        seed: Integer. Image `i` uses seed `seed + i`.
        workers: Threads (OpenCV releases the GIL); default: one per CPU.
        verbose: 0 (silent) or 1 (a Keras progress bar).

    Returns:
        `(regions, counts)`: float32 `(N, max_regions, 4)` "xyxy" boxes and
        int32 `(N,)` regions found per image.

    Example:

    >>> images = np.zeros((2, 32, 32, 1), "float32")
    >>> images[:, 8:20, 10:18] = 1.0
    >>> regions, counts = propose_regions(images, max_regions=20, verbose=0)
    >>> regions.shape, bool((counts > 0).all())
    ((2, 20, 4), True)
    """
    import keras

    check_positive_int("max_regions", max_regions)
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            "Invalid value received for argument `images`. Expected (N, height, "
            f"width, channels). Received: images.shape={images.shape}"
        )
    regions = np.full((len(images), max_regions, 4), -1.0, "float32")
    counts = np.zeros(len(images), "int32")
    bar = keras.utils.Progbar(len(images), unit_name="image") if verbose else None

    def search(index):
        return selective_search(images[index], max_regions, min_side, seed + index)

    with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        for index, boxes in enumerate(pool.map(search, range(len(images)))):
            regions[index, : len(boxes)] = boxes
            counts[index] = len(boxes)
            if bar is not None:
                bar.update(index + 1)
    return regions, counts


def _pairwise_iou(regions, boxes):
    """IoU `(R, M)` of "xyxy" boxes, in TensorFlow ops (for tf.data)."""
    import tensorflow as tf

    low = tf.maximum(regions[:, None, :2], boxes[None, :, :2])
    high = tf.minimum(regions[:, None, 2:], boxes[None, :, 2:])
    overlap = tf.reduce_prod(tf.maximum(high - low, 0.0), axis=-1)

    def area(b):
        return tf.maximum(b[..., 2] - b[..., 0], 0.0) * tf.maximum(
            b[..., 3] - b[..., 1], 0.0
        )

    union = area(regions)[:, None] + area(boxes)[None, :] - overlap
    return overlap / tf.maximum(union, 1e-9)


def sample_regions(
    regions, boxes, count, foreground_fraction=0.25, foreground_iou=0.5, seed=(0, 0)
):
    """Fast R-CNN's training regions of one image: a fixed number, part objects.

    The true boxes join the proposals as candidates (as in Fast R-CNN);
    up to `foreground_fraction * count` regions are drawn among the
    candidates with IoU >= `foreground_iou` with a true box, the rest among
    the others (background), at random from the stateless `seed`. When an
    image has too few candidates, -1 padding rows fill the set. TensorFlow
    ops, for a `tf.data` pipeline.

    Args:
        regions: `(P, 4)` "xyxy" proposals, -1 rows for padding.
        boxes: `(M, 4)` "xyxy" true boxes, -1 rows for padding.
        count: Positive integer. Regions returned.
        foreground_fraction: Float in [0, 1].
        foreground_iou: Float in (0, 1].
        seed: Stateless seed, a pair of integers.

    Returns:
        `(count, 4)` float32 regions.

    Example:

    >>> regions = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 9, 10]], "float32")
    >>> boxes = np.array([[0, 0, 10, 10], [-1, -1, -1, -1]], "float32")
    >>> out = sample_regions(regions, boxes, 4, foreground_fraction=0.5).numpy()
    >>> sorted(out.tolist())  # 2 objects (the box itself and a close one), 1 other
    [[-1.0, -1.0, -1.0, -1.0], [0.0, 0.0, 9.0, 10.0], [0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]]
    """
    import tensorflow as tf

    check_positive_int("count", count)
    if not 0.0 <= foreground_fraction <= 1.0:
        raise ValueError(
            invalid_value(
                "foreground_fraction", foreground_fraction, "a float in [0, 1]"
            )
        )
    boxes = tf.cast(boxes, tf.float32)
    candidates = tf.concat([boxes, tf.cast(regions, tf.float32)], axis=0)
    real = tf.reduce_any(candidates >= 0, axis=-1)
    real_boxes = tf.reduce_any(boxes >= 0, axis=-1)
    iou = tf.where(real_boxes[None, :], _pairwise_iou(candidates, boxes), -1.0)
    best = tf.reduce_max(tf.concat([iou, -tf.ones_like(iou[:, :1])], axis=1), axis=1)
    foreground = real & (best >= foreground_iou)
    background = real & ~foreground
    noise = tf.random.stateless_uniform(tf.shape(real), seed=seed)
    # Rank the objects at random and keep the first `limit` of them.
    limit = int(round(foreground_fraction * count))
    order = tf.argsort(tf.where(foreground, noise, 2.0))
    rank = tf.argsort(order)
    kept = foreground & (rank < limit)
    priority = tf.where(kept, 2.0 + noise, tf.where(background, noise, -1.0))
    _, chosen = tf.math.top_k(priority, k=tf.minimum(count, tf.shape(priority)[0]))
    picked = tf.gather(candidates, chosen)
    picked = tf.where((tf.gather(priority, chosen) >= 0)[:, None], picked, -1.0)
    missing = count - tf.shape(picked)[0]
    return tf.pad(picked, [[0, missing], [0, 0]], constant_values=-1.0)
