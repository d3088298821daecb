"""A YOLO detector: a registry backbone and a grid head regressing S x S x (5B + C)."""

from __future__ import annotations

import keras

from components import models
from components.checks import check_positive_int
from components.models.blocks import conv_bn_act


def yolo_detector(
    input_shape,
    num_classes,
    backbone="vgg",
    grid_size=7,
    boxes_per_cell=2,
    head_width=256,
    **backbone_options,
):
    """Builds a YOLO network: image in, raw `(S, S, 5B + C)` grid out.

    The notes' YOLO: divide the image into an S x S grid; each cell predicts B
    boxes (x, y, w, h and a confidence) and C class scores, so the network
    regresses one `S x S x (5B + C)` tensor. Any builder of
    `components.models` with a feature map serves as the backbone
    (`include_top=False`); a feature map larger than S x S is
    max-pooled down to it. The head is two 3x3 conv-bn-ReLU layers and a 1x1
    convolution to `5B + C` raw outputs (activations are applied by
    `YoloLoss` and `decode_predictions`): a convolutional head in place of
    the paper's two dense layers, with the same output and far fewer
    weights; its 3x3 layers on top of the backbone see the whole digit.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: Positive integer C.
        backbone: String. A registered builder name (`models.available()`).
        grid_size: Positive integer S.
        boxes_per_cell: Positive integer B.
        head_width: Positive integer. Channels of the head's 3x3 layers.
        **backbone_options: Options of the backbone builder (width, stages...).

    Returns:
        A `keras.Model` named `yolo_<backbone>`.

    Example:

    >>> model = yolo_detector((112, 112, 1), 10, width=8, stages=(1, 1, 1, 1))
    >>> model.output.shape
    (None, 7, 7, 20)
    """
    check_positive_int("grid_size", grid_size)
    check_positive_int("boxes_per_cell", boxes_per_cell)
    check_positive_int("num_classes", num_classes)
    check_positive_int("head_width", head_width)
    base = models.build(
        backbone,
        input_shape,
        max(num_classes, 2),
        include_top=False,
        **backbone_options,
    )
    features = base.output
    height, width = features.shape[1], features.shape[2]
    if height % grid_size or width % grid_size:
        raise ValueError(
            f"The {backbone} backbone gives a {height}x{width} feature map at input "
            f"{tuple(input_shape)}, not a multiple of grid_size={grid_size}: choose an "
            "image size or backbone stages that give a multiple of S."
        )
    x = features
    if height > grid_size or width > grid_size:
        x = keras.layers.MaxPooling2D(
            (height // grid_size, width // grid_size), name="to_grid"
        )(x)
    for index in range(2):
        x = conv_bn_act(x, head_width, 3, name=f"head{index + 1}")
    outputs = keras.layers.Conv2D(
        5 * boxes_per_cell + num_classes, 1, name="yolo_output"
    )(x)
    return keras.Model(base.inputs, outputs, name=f"yolo_{backbone}")
