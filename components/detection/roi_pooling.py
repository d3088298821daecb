"""RoI max pooling (Fast R-CNN): a fixed-size grid of features for any region."""

from __future__ import annotations

import math

import keras
from keras import ops

from components.checks import invalid_value


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

    def _windows(self, start, end, bins, size):
        """Per bin: a fixed number `k` of cells from the bin's first one, which
        of them lie inside the bin, and whether the region misses the map."""
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
        # A bin of a region inside the map spans at most ceil(size / bins) + 1
        # cells.
        span = math.ceil(size / bins) + 1
        cells = low[..., None] + ops.arange(span, dtype="int32")  # (.., bins, k)
        inside = cells < high[..., None]
        cells = ops.minimum(cells, size - 1)
        return cells, inside, outside

    def call(self, inputs):
        features, rois = inputs
        rois = ops.cast(rois, "float32")
        self._check_shapes(features.shape, rois.shape)
        batch = ops.shape(features)[0]
        height, width, channels = (
            features.shape[1],
            features.shape[2],
            features.shape[3],
        )
        num_rois = ops.shape(rois)[1]
        pool_h, pool_w = self.pool_size
        # Caffe's projection: round(coordinate * scale), both ends inclusive.
        scaled = ops.round(rois * self.spatial_scale)
        rows, rows_in, off_rows = self._windows(
            scaled[..., 1], scaled[..., 3], pool_h, height
        )
        cols, cols_in, off_cols = self._windows(
            scaled[..., 0], scaled[..., 2], pool_w, width
        )
        # Rows first: gather each bin's rows of its image and max over them.
        flat = ops.reshape(features, (-1, width, channels))  # (batch * H, W, C)
        image = ops.arange(batch, dtype="int32")[:, None, None, None] * height
        picked = ops.take(flat, rows + image, axis=0)  # (B, R, h, k, W, C)
        picked = ops.where(rows_in[..., None, None], picked, -math.inf)
        by_rows = ops.max(picked, axis=3)  # (B, R, h, W, C)
        # Then columns: the same on the row-pooled maps of each region.
        by_rows = ops.reshape(
            ops.transpose(by_rows, (0, 1, 3, 2, 4)), (-1, pool_h, channels)
        )
        region = ops.arange(batch * num_rois, dtype="int32")
        region = ops.reshape(region, (batch, num_rois))[:, :, None, None] * width
        picked = ops.take(by_rows, cols + region, axis=0)  # (B, R, w, k, h, C)
        picked = ops.where(cols_in[..., None, None], picked, -math.inf)
        pooled = ops.transpose(ops.max(picked, axis=3), (0, 1, 3, 2, 4))
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
