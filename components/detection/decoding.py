"""The decodings as layers, so that a saved detector answers with boxes."""

from __future__ import annotations

import keras

from components.checks import check_positive_int, invalid_value


class _Decoding(keras.layers.Layer):
    """What the decodings share: thresholds, the detection count, the output."""

    def __init__(
        self,
        image_shape,
        score_threshold=0.2,
        iou_threshold=0.5,
        max_detections=50,
        **kwargs,
    ):
        super().__init__(**kwargs)
        shape = tuple(image_shape)
        if len(shape) < 2 or not all(isinstance(v, int) and v > 0 for v in shape[:2]):
            raise ValueError(
                invalid_value("image_shape", image_shape, "(height, width[, channels])")
            )
        for name, value in (
            ("score_threshold", score_threshold),
            ("iou_threshold", iou_threshold),
        ):
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(invalid_value(name, value, "a float in [0, 1]"))
        self.image_shape = shape
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = check_positive_int("max_detections", max_detections)

    def compute_output_spec(self, raw):
        return self._output_spec(raw.shape[0])

    def _output_spec(self, batch):
        size = self.max_detections
        return {
            "boxes": keras.KerasTensor((batch, size, 4), "float32"),
            "scores": keras.KerasTensor((batch, size), "float32"),
            "labels": keras.KerasTensor((batch, size), "int32"),
            "num_detections": keras.KerasTensor((batch,), "int32"),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": list(self.image_shape),
            "score_threshold": self.score_threshold,
            "iou_threshold": self.iou_threshold,
            "max_detections": self.max_detections,
        }


def _with_decoding(inputs, raw, decoding, name):
    return keras.Model(inputs, decoding(raw), name=f"{name}_inference")


def _decoded(model, decoding_class, score_threshold, iou_threshold, **kwargs):
    """A one-tensor network followed by its decoding layer."""
    decoding = decoding_class(
        model.inputs[0].shape[1:],
        score_threshold=score_threshold,
        iou_threshold=iou_threshold,
        name="decoding",
        **kwargs,
    )
    # One input tensor, not a list: the exported signature then takes images.
    return _with_decoding(model.inputs[0], model.output, decoding, model.name)


@keras.saving.register_keras_serializable(package="components")
class YoloDecoding(_Decoding):
    """Raw YOLO grids in, detections out: `decode_predictions` as a layer.

    Put at the end of a YOLO network (`yolo_inference_model`), it makes the
    saved model self-contained, as KerasHub's detectors are: `predict` on
    images returns a dict of `boxes` `(batch, max_detections, 4)` ("xyxy"
    pixels of the input), `scores` and `labels` `(batch, max_detections)` and
    `num_detections` `(batch,)`, rows past `num_detections` being zero
    padding; `model.export()` serves the same. TensorFlow only (its
    non-maximum suppression is TensorFlow's `combined_non_max_suppression`).

    Args:
        image_shape: `(height, width[, channels])` of the network's input.
        boxes_per_cell: Positive integer B.
        score_threshold: Float in [0, 1]. Lowest class-specific score kept.
        iou_threshold: Float in [0, 1]. IoU above which NMS drops a box.
        max_detections: Positive integer. Most detections kept per image.

    Example:

    >>> import numpy as np
    >>> layer = YoloDecoding((112, 112), score_threshold=0.01)
    >>> out = layer(np.zeros((2, 7, 7, 20), "float32"))
    >>> sorted(out), tuple(out["boxes"].shape)
    (['boxes', 'labels', 'num_detections', 'scores'], (2, 50, 4))
    """

    def __init__(
        self,
        image_shape,
        boxes_per_cell=2,
        score_threshold=0.2,
        iou_threshold=0.5,
        max_detections=50,
        **kwargs,
    ):
        super().__init__(
            image_shape, score_threshold, iou_threshold, max_detections, **kwargs
        )
        self.boxes_per_cell = check_positive_int("boxes_per_cell", boxes_per_cell)

    def call(self, raw):
        from components.detection.postprocess import decode_predictions

        return decode_predictions(
            raw,
            self.image_shape,
            self.boxes_per_cell,
            self.score_threshold,
            self.iou_threshold,
            self.max_detections,
        )

    def get_config(self):
        return {**super().get_config(), "boxes_per_cell": self.boxes_per_cell}


def yolo_inference_model(model, score_threshold=0.2, iou_threshold=0.5, **kwargs):
    """`model` (raw grids) followed by `YoloDecoding`: images in, boxes out.

    Args:
        model: A YOLO network (`yolo_detector`), trained.
        score_threshold: Float. Lowest class-specific score kept.
        iou_threshold: Float. IoU above which NMS drops a box.
        **kwargs: Other `YoloDecoding` arguments (`boxes_per_cell`,
            `max_detections`).

    Returns:
        A `keras.Model` named `<model.name>_inference` sharing `model`'s layers.
    """
    return _decoded(model, YoloDecoding, score_threshold, iou_threshold, **kwargs)


@keras.saving.register_keras_serializable(package="components")
class DenseDecoding(_Decoding):
    """A dense detector's `(batch, N, 4 + C)` outputs in, detections out:
    `decode_dense_predictions` as a layer, with the outputs of
    `YoloDecoding`.

    Args:
        image_shape: `(height, width[, channels])` of the network's input.
        score_threshold: Float in [0, 1]. Lowest class score kept.
        iou_threshold: Float in [0, 1]. IoU above which NMS drops a box.
        max_detections: Positive integer. Most detections kept per image.

    Example:

    >>> import numpy as np
    >>> layer = DenseDecoding((64, 64), score_threshold=0.01)
    >>> out = layer(np.zeros((2, 80, 7), "float32"))
    >>> tuple(out["boxes"].shape)
    (2, 50, 4)

    With `num_classes`, only the C channels after the box are classes (a
    `yolov8_detector`'s box distributions follow them).
    """

    def __init__(self, image_shape, num_classes=None, **kwargs):
        super().__init__(image_shape, **kwargs)
        if num_classes is not None:
            check_positive_int("num_classes", num_classes)
        self.num_classes = num_classes

    def call(self, raw):
        from components.detection.postprocess import decode_dense_predictions

        return decode_dense_predictions(
            raw,
            self.image_shape,
            self.score_threshold,
            self.iou_threshold,
            self.max_detections,
            self.num_classes,
        )

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def dense_inference_model(model, score_threshold=0.2, iou_threshold=0.5, **kwargs):
    """`model` (a `dense_detector`) followed by `DenseDecoding`: images in,
    boxes out, as `yolo_inference_model`."""
    return _decoded(model, DenseDecoding, score_threshold, iou_threshold, **kwargs)


REGION_OUTPUTS = ("rois", "class_logits", "box_deltas")


@keras.saving.register_keras_serializable(package="components")
class RegionDecoding(_Decoding):
    """Region-based detector outputs in, detections out (`decode_region_detections`).

    The R-CNN family's counterpart of `YoloDecoding`: it takes the dict of
    `rois`, `class_logits` and `box_deltas` that `rcnn_network`,
    `fast_rcnn_network` and `faster_rcnn_network` produce and returns the
    same detections dict. TensorFlow only.

    Args:
        image_shape: `(height, width[, channels])` of the network's input.
        score_threshold: Float in [0, 1]. Lowest class score kept.
        iou_threshold: Float in [0, 1]. IoU above which NMS drops a box.
        max_detections: Positive integer. Most detections kept per image.

    Example:

    >>> import numpy as np
    >>> out = RegionDecoding((64, 64))({
    ...     "rois": np.array([[[10, 10, 20, 30]]], "float32"),
    ...     "class_logits": np.array([[[0.0, 5.0, 0.0]]], "float32"),
    ...     "box_deltas": np.zeros((1, 1, 2, 4), "float32")})
    >>> int(out["num_detections"][0]), int(out["labels"][0, 0])
    (1, 0)
    """

    def __init__(
        self,
        image_shape,
        score_threshold=0.05,
        iou_threshold=0.5,
        max_detections=50,
        **kwargs,
    ):
        super().__init__(
            image_shape, score_threshold, iou_threshold, max_detections, **kwargs
        )

    def call(self, outputs):
        from components.detection.postprocess import decode_region_detections

        return decode_region_detections(
            outputs,
            self.image_shape,
            self.score_threshold,
            self.iou_threshold,
            self.max_detections,
        )

    def compute_output_spec(self, outputs):
        return self._output_spec(outputs["rois"].shape[0])


def region_inference_model(network, score_threshold=0.05, iou_threshold=0.5, **kwargs):
    """A region-based `network` followed by `RegionDecoding`.

    Faster R-CNN's takes images; R-CNN's and Fast R-CNN's take `{"images",
    "rois"}`, the regions from `propose_regions` (selective search runs
    outside the model, on the CPU).

    Args:
        network: `rcnn_network`, `fast_rcnn_network` or `faster_rcnn_network`
            (the `network` of a trained `RegionDetector`).
        score_threshold: Float. Lowest class score kept.
        iou_threshold: Float. IoU above which NMS drops a box.
        **kwargs: Other `RegionDecoding` arguments (`max_detections`).

    Returns:
        A `keras.Model` named `<network.name>_inference` sharing its layers.
    """
    images = network.inputs[0] if len(network.inputs) == 1 else network.input
    shape = (images["images"] if isinstance(images, dict) else images).shape[1:]
    decoding = RegionDecoding(
        shape, score_threshold, iou_threshold, name="decoding", **kwargs
    )
    kept = {k: network.output[k] for k in REGION_OUTPUTS}
    return _with_decoding(images, kept, decoding, network.name)


def _layers_named(model, names):
    # By registered name, not class: a module imported twice (pytest's
    # doctests) registers a second copy of the classes a loaded model uses.
    return [
        layer
        for layer in model.layers
        if keras.saving.get_registered_name(type(layer)) in names
    ]


def without_decoding(model):
    """The raw network inside a `yolo_inference_model` or a
    `region_inference_model` (the model itself when it has no decoding
    layer), or inside a serving model wrapping one: for timing or fine-tuning
    it."""
    served = _layers_named(model, {"components>ImagePreprocessing"})
    if served:  # a serving model: the detector is its one nested model
        nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
        return without_decoding(nested[0])
    decoding = _layers_named(
        model, {"components>YoloDecoding", "components>RegionDecoding"}
    )
    if not decoding:
        return model
    raw = decoding[0].input
    if type(decoding[0]).__name__ == "RegionDecoding":
        # The layer's inputs come back flattened, in the sorted-key order of
        # the dict it was called on.
        raw = dict(zip(sorted(REGION_OUTPUTS), raw))
    return keras.Model(model.input, raw, name=f"{model.name}_raw")
