"""RoI max pooling (Fast R-CNN): a fixed-size grid of features for any region."""

from __future__ import annotations

import math

import keras
from keras import ops

from components.checks import invalid_value


def _shifted(x, shift, axis, training):
    """`x` rolled back by `shift` along `axis` (1 or 2). Training rolls (the
    cheaper gradient); inference concatenates two slices, the same values
    in ops that LiteRT has as builtins (it has no roll)."""
    if training:
        return ops.roll(x, -shift, axis)
    if axis == 1:
        return ops.concatenate([x[:, shift:], x[:, :shift]], axis=1)
    return ops.concatenate([x[:, :, shift:], x[:, :, :shift]], axis=2)


@keras.saving.register_keras_serializable(package="components")
class RoIPooling(keras.layers.Layer):
    """Max-pools each region of interest of a feature map to `pool_size` cells.

    Fast R-CNN's layer: a region given in image pixels is projected onto
    the conv feature map (multiplied by `spatial_scale` and rounded), divided
    into an `h x w` grid of sub-windows, and each sub-window is max-pooled.
    Regions of any size give the same output size, so one fully connected
    head scores them all, and the conv features are computed once per image
    instead of once per region (R-CNN). The sub-window boundaries are those
    of the original Caffe layer: row bin `i` of a region starting at cell
    `y0` and `n` cells high spans `[y0 + floor(i n / h), y0 + ceil((i+1) n / h))`,
    with `n = max(y1 - y0 + 1, 1)`.

    A region partly outside the map is first clipped to it (Caffe's layer
    instead lets such bins fall outside the map and come out as zeros); a
    region entirely outside it gives zeros, as do rows whose coordinates
    are all negative (the project's -1 padding), so a padded set of
    regions, even an empty one, is valid input.

    Args:
        pool_size: Integer or `(h, w)`. Output cells per region.
        spatial_scale: Positive float. Feature-map cells per image pixel
            (1 / the backbone's stride). With 1.0 the layer crops and
            max-resizes image regions (R-CNN's warp).

    Call arguments:
        inputs: A list `[features, rois]`: `features` `(batch, H, W, C)`,
            `rois` `(batch, R, 4)` "xyxy" image pixels.

    Returns:
        `(batch, R, h, w, C)`.

    Example:

    >>> import numpy as np
    >>> features = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> rois = np.array([[[0, 0, 3, 3], [2, 2, 3, 3]]], "float32")
    >>> out = RoIPooling(2, spatial_scale=1.0)([features, rois])
    >>> ops.convert_to_numpy(out)[0, :, :, :, 0].tolist()
    [[[5.0, 7.0], [13.0, 15.0]], [[10.0, 11.0], [14.0, 15.0]]]
    """

    def __init__(self, pool_size=7, spatial_scale=1.0 / 8.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(pool_size, int):
            pool_size = (pool_size, pool_size)
        pool_size = tuple(pool_size)
        if len(pool_size) != 2:
            raise ValueError(
                invalid_value("pool_size", pool_size, "an integer or (h, w)")
            )
        if not all(isinstance(v, int) and v >= 1 for v in pool_size):
            raise ValueError(invalid_value("pool_size", pool_size, "positive integers"))
        if not isinstance(spatial_scale, (int, float)) or spatial_scale <= 0:
            raise ValueError(
                invalid_value("spatial_scale", spatial_scale, "a positive float")
            )
        self.pool_size = pool_size
        self.spatial_scale = float(spatial_scale)

    def _check_shapes(self, features_shape, rois_shape):
        if len(features_shape) != 4 or len(rois_shape) != 3 or rois_shape[-1] != 4:
            raise ValueError(
                "RoIPooling expects [features (batch, H, W, C), rois (batch, R, 4)]. "
                f"Received shapes: {tuple(features_shape)} and {tuple(rois_shape)}"
            )

    def build(self, input_shape):
        self._check_shapes(*input_shape)

    def compute_output_shape(self, input_shape):
        features_shape, rois_shape = input_shape
        self._check_shapes(features_shape, rois_shape)
        return (rois_shape[0], rois_shape[1], *self.pool_size, features_shape[-1])

    def _bins(self, start, end, bins, size):
        """Each bin's first cell and the cell after its last, `(.., bins)`
        int32, and whether the region misses the map."""
        outside = ops.logical_or(start > size - 1, end < 0)
        start = ops.cast(ops.clip(start, 0, size - 1), "int32")
        end = ops.cast(ops.clip(end, 0, size - 1), "int32")
        length = ops.maximum(end - start + 1, 1)[..., None]
        # Integer floor and ceil: float division may be rewritten as a
        # multiplication by the reciprocal (XLA), off by one at exact integers.
        index = ops.arange(bins, dtype="int32")
        low = ops.floor_divide(index * length, bins) + start[..., None]
        high = (
            ops.floor_divide((index + 1) * length + bins - 1, bins) + start[..., None]
        )
        return low, high, outside

    @staticmethod
    def _runs(low, high, size, bins):
        """Per bin, the level `l` of the two runs of `2 ** l` cells that
        cover it, and their first cells: the bin's first cell, and that of
        the run ending at its last."""
        longest = math.ceil(size / bins) + 1  # a bin inside the map, at most
        levels = longest.bit_length()  # runs of 1, 2, ..., 2 ** (levels - 1)
        length = high - low
        level = ops.zeros_like(length)
        for step in range(1, levels):
            level = level + ops.cast(length >= 2**step, "int32")
        run = ops.take(ops.array([2**i for i in range(levels)], "int32"), level)
        return levels, level, (low, high - run)

    def call(self, inputs, training=None):
        features, rois = inputs
        rois = ops.cast(rois, "float32")
        self._check_shapes(features.shape, rois.shape)
        batch = ops.shape(features)[0]
        height, width = features.shape[1], features.shape[2]
        pool_h, pool_w = self.pool_size
        # Caffe's projection: round(coordinate * scale), both ends inclusive.
        scaled = ops.round(rois * self.spatial_scale)
        top, bottom, off_rows = self._bins(
            scaled[..., 1], scaled[..., 3], pool_h, height
        )
        left, right, off_cols = self._bins(
            scaled[..., 0], scaled[..., 2], pool_w, width
        )
        row_levels, row_level, row_starts = self._runs(top, bottom, height, pool_h)
        col_levels, col_level, col_starts = self._runs(left, right, width, pool_w)
        # A sparse table on the shared map: the maximum of every block of
        # 2 ** a rows by 2 ** b columns. Four such blocks cover a bin
        # (overlapping where its sides are not powers of two), so its maximum
        # is that of four gathered cells. The table is built on the small
        # feature map: gathering every cell of every bin, or a table per
        # region, spent most of a training step on the gradients of large
        # intermediate tensors.
        table = [[features]]
        for a in range(row_levels):
            if a:
                above, shift = table[a - 1][0], 2 ** (a - 1)
                # The last `shift` rows are never read at this level, so a
                # roll will do (its gradient is cheaper than a concatenation's).
                table.append([ops.maximum(above, _shifted(above, shift, 1, training))])
            for b in range(1, col_levels):
                block, shift = table[a][b - 1], 2 ** (b - 1)
                table[a].append(ops.maximum(block, _shifted(block, shift, 2, training)))
        flat = ops.reshape(
            ops.stack([block for row in table for block in row]),
            (-1, features.shape[3]),
        )
        # The flat index of level (a, b), image n, cell (y, x).
        level = row_level[..., :, None] * col_levels + col_level[..., None, :]
        image = ops.arange(batch, dtype="int32")[:, None, None, None]
        base = (level * batch + image) * (height * width)
        pooled = None
        for rows in row_starts:
            for cols in col_starts:
                index = base + rows[..., :, None] * width + cols[..., None, :]
                cell = ops.take(flat, index, axis=0)  # (B, R, h, w, C)
                pooled = cell if pooled is None else ops.maximum(pooled, cell)
        # Regions off the map and padding rows give zeros.
        empty = ops.logical_or(
            ops.logical_or(off_rows, off_cols), ops.all(rois < 0, axis=-1)
        )
        empty = empty[:, :, None, None, None]
        return ops.where(empty, ops.zeros_like(pooled), pooled)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "spatial_scale": self.spatial_scale,
        }
