"""R-CNN's warp: every region cropped to a fixed size, one CNN input each."""

from __future__ import annotations

import keras
from keras import ops

from components.checks import check_positive_int
from components.detection.roi_pooling import RoIPooling


@keras.saving.register_keras_serializable(package="components")
class RegionWarp(keras.layers.Layer):
    """Crops each region of each image and resizes it to `size x size`.

    R-CNN warps every proposal to the CNN's input size, whatever its shape
    (anisotropically, as the paper does). The crop is an `RoIPooling` of the
    image itself (`spatial_scale=1`): each output pixel is the maximum of
    the pixels of its sub-window, so bright strokes survive a shrink. The
    regions of all images are stacked along the batch axis, ready for an
    ordinary CNN; `SplitRegions` undoes the stacking.

    Args:
        size: Positive integer. Side of the warped crops.

    Call arguments:
        inputs: `[images (batch, H, W, C), regions (batch, R, 4)]`, regions
            in "xyxy" pixels (rows of -1 give blank crops).

    Returns:
        `(batch * R, size, size, C)`.

    Example:

    >>> import numpy as np
    >>> images = np.ones((2, 16, 16, 1), "float32")
    >>> regions = np.array([[[0, 0, 7, 7]] * 3] * 2, "float32")
    >>> tuple(RegionWarp(8)([images, regions]).shape)
    (6, 8, 8, 1)
    """

    def __init__(self, size=32, **kwargs):
        super().__init__(**kwargs)
        self.size = check_positive_int("size", size)
        self.pool = RoIPooling(size, spatial_scale=1.0)

    def build(self, input_shape):
        self.pool.build(input_shape)

    def compute_output_shape(self, input_shape):
        images_shape, regions_shape = input_shape
        count = None
        if images_shape[0] is not None and regions_shape[1] is not None:
            count = images_shape[0] * regions_shape[1]
        return (count, self.size, self.size, images_shape[-1])

    def call(self, inputs):
        crops = self.pool(inputs)
        return ops.reshape(crops, (-1, self.size, self.size, crops.shape[-1]))

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="components")
class SplitRegions(keras.layers.Layer):
    """`(batch * R, F)` per-region features back to `(batch, R, F)`.

    Call arguments:
        inputs: `[features (batch * R, F), regions (batch, R, 4)]`.

    Example:

    >>> import numpy as np
    >>> out = SplitRegions()([np.zeros((6, 5)), np.zeros((2, 3, 4))])
    >>> tuple(out.shape)
    (2, 3, 5)
    """

    def compute_output_shape(self, input_shape):
        features_shape, regions_shape = input_shape
        return (regions_shape[0], regions_shape[1], features_shape[-1])

    def call(self, inputs):
        features, regions = inputs
        count = ops.shape(regions)[1]
        return ops.reshape(features, (-1, count, features.shape[-1]))
