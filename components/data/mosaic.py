"""Mosaic: four training images tiled into one, their boxes kept (YOLOv4's)."""

from __future__ import annotations

import tensorflow as tf

from components.checks import invalid_value
from components.data.epoch_seeds import EpochSeeds

# The four places of a mosaic, as (column, row) of the tile around the join
# point: top-left, top-right, bottom-left, bottom-right.
TILES = ((0, 0), (1, 0), (0, 1), (1, 1))


def tile_four(
    images, boxes, labels, join, magnification, min_side=2.0, min_visible=0.1
):
    """Mosaics of fixed geometry: the deterministic core of `mosaic`.

    Mosaic `n` tiles the four images `images[n, 0..3]` on a `2H x 2W`
    canvas: image 0 with its bottom-right corner at the join point, images
    1, 2 and 3 to the join point's top-right, bottom-left and bottom-right;
    each image shows only its quadrant of the canvas. The output is the `H x W`
    view centred on the canvas, magnified by `magnification` (0.5 shows the
    whole canvas at half size, 1 its middle at full size). Outside every
    image the output is 0 (the letterbox's black).

    A box is clipped to its image's quadrant and the view. It is kept if at
    least `min_visible` of its area is still seen and both clipped sides are
    at least `min_side` pixels; otherwise it becomes padding (box and label
    -1), as padding rows stay. No box that meets both thresholds is dropped:
    the output holds `4 x M` boxes for `M` per image.

    Args:
        images: Float tensor `(N, 4, H, W, C)`: the four images of each mosaic.
        boxes: Float tensor `(N, 4, M, 4)`, "xyxy" pixels of each image.
        labels: Integer tensor `(N, 4, M)`; -1 marks padding.
        join: Float tensor `(N, 2)`: the join point's `(x, y)` on the canvas,
            in `[0, 2W] x [0, 2H]`.
        magnification: Float tensor `(N,)`.
        min_side: Float. Smallest kept side, in output pixels.
        min_visible: Float in [0, 1]. Smallest kept fraction of a box's area.

    Returns:
        `(images (N, H, W, C), boxes (N, 4M, 4), labels (N, 4M))`.

    Example:

    >>> import numpy as np
    >>> images = np.ones((1, 4, 8, 8, 1), "float32")
    >>> boxes = np.tile(np.array([0., 0., 8., 8.], "float32"), (1, 4, 1, 1))
    >>> labels = np.arange(4).reshape(1, 4, 1)
    >>> out = tile_four(images, boxes, labels, np.array([[8., 8.]]),
    ...                 np.array([1.]))
    >>> out[1][0].numpy().tolist()  # each image a quarter of the view
    [[0.0, 0.0, 4.0, 4.0], [4.0, 0.0, 8.0, 4.0], [0.0, 4.0, 4.0, 8.0], [4.0, 4.0, 8.0, 8.0]]
    """
    images = tf.convert_to_tensor(images, tf.float32)
    boxes = tf.cast(boxes, tf.float32)
    labels = tf.cast(labels, tf.int32)
    join = tf.cast(join, tf.float32)
    magnification = tf.cast(magnification, tf.float32)
    count = tf.shape(images)[0]
    height, width, channels = images.shape[2], images.shape[3], images.shape[4]
    size = tf.constant([width, height], tf.float32)
    # Where each image's top-left corner lies on the canvas, and its quadrant.
    tiles = tf.constant(TILES, tf.float32)  # (4, 2)
    offsets = join[:, None, :] + (tiles - 1.0) * size  # (N, 4, 2)
    low = tf.where(tiles > 0, join[:, None, :], 0.0)
    high = tf.where(tiles > 0, 2.0 * size, join[:, None, :])
    # The view: canvas point p lands at (p - origin) * magnification.
    mag = magnification[:, None, None]
    origin = size - size / (2.0 * magnification[:, None])  # (N, 2)
    origin = origin[:, None, :]

    # Pixels: output pixel i (centre i + 0.5) shows image point
    # origin - offset + (i + 0.5) / mag, image pixel index that minus 0.5.
    start = origin - offsets + 0.5 / mag - 0.5  # (N, 4, 2) in image pixels
    scale = tf.broadcast_to(1.0 / mag[..., 0], tf.shape(start[..., 0]))
    zero = tf.zeros_like(scale)
    transforms = tf.stack(
        [scale, zero, start[..., 0], zero, scale, start[..., 1], zero, zero], axis=-1
    )
    layers = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.reshape(images, [-1, height, width, channels]),
        transforms=tf.reshape(transforms, [-1, 8]),
        output_shape=[height, width],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    layers = tf.reshape(layers, [count, 4, height, width, channels])
    # Each output pixel (by its centre) belongs to one quadrant.
    region_low = (low - origin) * mag  # (N, 4, 2) in output pixels
    region_high = (high - origin) * mag
    xs = tf.range(width, dtype=tf.float32) + 0.5
    ys = tf.range(height, dtype=tf.float32) + 0.5
    inside_x = (xs >= region_low[..., 0:1]) & (xs < region_high[..., 0:1])
    inside_y = (ys >= region_low[..., 1:2]) & (ys < region_high[..., 1:2])
    mask = inside_y[..., :, None] & inside_x[..., None, :]  # (N, 4, H, W)
    tiled = tf.reduce_sum(
        tf.where(mask[..., None], layers, tf.zeros_like(layers)), axis=1
    )

    # Boxes: moved like the pixels, clipped to their quadrant inside the view.
    shift = tf.concat([offsets - origin, offsets - origin], axis=-1)[:, :, None, :]
    moved = (boxes + shift) * mag[..., None]
    floor = tf.concat([region_low, region_low], axis=-1)
    ceiling = tf.concat([region_high, region_high], axis=-1)
    view = tf.concat([size, size], axis=-1)
    floor = tf.clip_by_value(floor, 0.0, view)[:, :, None, :]
    ceiling = tf.clip_by_value(ceiling, 0.0, view)[:, :, None, :]
    clipped = tf.minimum(tf.maximum(moved, floor), ceiling)
    sides = clipped[..., 2:] - clipped[..., :2]
    whole = moved[..., 2:] - moved[..., :2]
    area = tf.reduce_prod(tf.maximum(sides, 0.0), axis=-1)
    whole_area = tf.reduce_prod(tf.maximum(whole, 0.0), axis=-1)
    keep = (
        (labels >= 0)
        & tf.reduce_all(sides >= min_side, axis=-1)
        & (area >= min_visible * whole_area)
    )
    per_mosaic = 4 * boxes.shape[2]
    out_boxes = tf.reshape(
        tf.where(keep[..., None], clipped, -1.0), [count, per_mosaic, 4]
    )
    out_labels = tf.reshape(tf.where(keep, labels, -1), [count, per_mosaic])
    return tiled, out_boxes, out_labels


def mosaic(
    dataset,
    epoch_seeds,
    epochs=None,
    magnification=(0.5, 1.5),
    min_side=2.0,
    min_visible=0.1,
):
    """Tiles a detection training set into mosaics, epoch by epoch.

    Mosaic (YOLOv4; Ultralytics trains with it by default) shows a detector
    four images at once, each cut at a random join point and scaled: objects
    meet new neighbours, backgrounds and sizes, and appear cut at image
    edges. Consecutive examples of the (shuffled) dataset are taken four at
    a time; each four give four mosaics, one with each image at the top
    left, so an epoch keeps its number of examples and every image appears
    in four mosaics. The join point is drawn uniformly over the middle half
    of the `2H x 2W` canvas, the magnification uniformly from
    `magnification` (see `tile_four` for the geometry and which boxes are
    kept). Draws come from the epoch's seed and the group's position, so a
    resumed run repeats them.

    Mosaics end after `epochs` epochs (Ultralytics' `close_mosaic`: the last
    epochs train on whole images, as the detector will see them); later
    epochs pass the images through, their boxes padded to the same `4 x M`
    rows.

    Args:
        dataset: Unbatched `tf.data.Dataset` of
            `{"images": (H, W, C), "bounding_boxes": {"boxes": (M, 4),
            "labels": (M,)}}`, shuffled by `epoch_seeds` (boxes "xyxy"
            pixels, padding -1).
        epoch_seeds: `EpochSeeds`, also passed to `fit`'s callbacks.
        epochs: Integer or `None`. Mosaic epochs 0 to `epochs - 1` only
            (`None`: every epoch).
        magnification: `(low, high)` positive floats.
        min_side: Float. Smallest kept box side in pixels.
        min_visible: Float in [0, 1]. Smallest kept fraction of a box.

    Returns:
        The unbatched dataset, with `4 x M` box rows per example.

    Example:

    >>> import numpy as np
    >>> from components.data import EpochSeeds
    >>> example = {"images": np.ones((16, 16, 3), "float32"),
    ...            "bounding_boxes": {"boxes": np.array([[2., 2., 14., 14.]]),
    ...                               "labels": np.array([1])}}
    >>> ds = tf.data.Dataset.from_tensors(example).repeat(8)
    >>> tiled = mosaic(ds, EpochSeeds(0))
    >>> [e["bounding_boxes"]["boxes"].shape for e in tiled.take(1)]
    [TensorShape([4, 4])]
    """
    low, high = magnification
    if not 0.0 < low <= high:
        raise ValueError(
            invalid_value("magnification", magnification, "0 < low <= high")
        )
    if epochs is not None and int(epochs) < 0:
        raise ValueError(invalid_value("epochs", epochs, "a non-negative integer"))
    if not 0.0 <= min_visible <= 1.0:
        raise ValueError(invalid_value("min_visible", min_visible, "a float in [0, 1]"))
    size = int(dataset.cardinality())
    spec = dataset.element_spec
    height, width = spec["images"].shape[0], spec["images"].shape[1]
    rows = spec["bounding_boxes"]["boxes"].shape[0]
    if height is None or width is None or rows is None:
        raise ValueError(
            "`mosaic` needs images of one size and a fixed number of box rows; "
            f"got images {spec['images'].shape}, boxes "
            f"{spec['bounding_boxes']['boxes'].shape}."
        )
    limit = None if epochs is None else int(epochs)

    def tile_group(epoch_seed, position, group):
        images = tf.cast(group["images"], tf.float32)
        boxes = tf.cast(group["bounding_boxes"]["boxes"], tf.float32)
        labels = tf.cast(group["bounding_boxes"]["labels"], tf.int32)

        def tiled():
            count = tf.shape(images)[0]
            # Mosaic j takes images j, j+1, j+2, j+3 (of a short last group too).
            order = (tf.range(count)[:, None] + tf.range(4)[None, :]) % count
            seed = tf.stack([epoch_seed, position])
            draws = tf.random.stateless_uniform([count, 3], seed=seed)
            canvas = tf.constant([width, height], tf.float32)
            return tile_four(
                tf.gather(images, order),
                tf.gather(boxes, order),
                tf.gather(labels, order),
                canvas * (0.5 + draws[:, :2]),
                low + (high - low) * draws[:, 2],
                min_side=min_side,
                min_visible=min_visible,
            )

        def whole():
            padding = [[0, 0], [0, 3 * rows]]
            return (
                images,
                tf.pad(boxes, padding + [[0, 0]], constant_values=-1.0),
                tf.pad(labels, padding, constant_values=-1),
            )

        if limit is None:
            shown, kept, named = tiled()
        else:
            # The work sits inside the branches: a closed epoch does none of it.
            on = EpochSeeds.epoch_of(epoch_seed) < limit
            shown, kept, named = tf.cond(on, tiled, whole)
        return {"images": shown, "bounding_boxes": {"boxes": kept, "labels": named}}

    def per_epoch(epoch_seed):
        groups = dataset.batch(4).enumerate()
        return groups.map(
            lambda position, group: tile_group(epoch_seed, position, group),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).unbatch()

    tiled = epoch_seeds.dataset().flat_map(per_epoch)
    if size >= 0:
        tiled = tiled.apply(tf.data.experimental.assert_cardinality(size))
    return tiled
