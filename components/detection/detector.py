"""One detector object: a network that owns its label assignment, its loss
and its decoding (KerasHub's `ImageObjectDetector` shape)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from components.checks import check_positive_int, invalid_value
from components.detection.decoding import DenseDecoding, YoloDecoding
from components.detection.dense_loss import TaskAlignedLoss
from components.detection.dense_model import dense_detector, level_shapes
from components.detection.yolo_loss import YoloLoss
from components.detection.yolo_model import yolo_detector
from components.detection.yolov8 import distribution_bins, yolov8_detector

# Each kind: its network builder and what its loss takes from `loss_options`.
KINDS = {
    "v1": yolo_detector,  # the paper's S x S grid
    "dense": dense_detector,  # a box at every location of a backbone's maps
    "yolov8": yolov8_detector,  # CSP backbone, PAN neck, box distributions
}


@keras.saving.register_keras_serializable(package="components")
class Detector(keras.Model):
    """A detection network with its assignment, loss and decoding.

    The network's layers are the detector's own (a functional model over
    the same graph, so `fit` trains them and the weights save under the
    same names); what differs between the paper's v1 grid, the dense head
    and the YOLOv8-class network lives here, so a recipe asks the detector
    and never which kind it is:

    - `targets(boxes, labels)`: what the loss compares a batch of images
      with, computed in the tf.data pipeline (the v1 grid's S x S targets; the
      dense kinds' boxes as fractions of the image, which the loss assigns to
      locations from the predictions);
    - `compile()`: the kind's loss by default (`YoloLoss` or
      `TaskAlignedLoss`, with the distribution focal loss for `yolov8`),
      `loss_terms` its terms one by one;
    - `predict(images)`: a dict of `boxes` ("xyxy" pixels of the input),
      `scores`, `labels` and `num_detections`, rows past `num_detections`
      zero, as KerasHub's detectors answer; `predict_raw` the network's own
      outputs and `decode` the step between;
    - `inference_model()`: the network followed by its decoding layer, the
      model that `components.serving` wraps and `recipes.export` exports.

    Args:
        network: A functional detection network of `kind`.
        kind: String. `"v1"`, `"dense"` or `"yolov8"`.
        num_classes: Positive integer C.
        loss_options: Optional dict of the kind's loss arguments
            (`YoloLoss`'s `lambda_coord`, `lambda_noobj`; `TaskAlignedLoss`'s
            `top_k`, `class_weight`, `box_weight`, `distribution_weight`...).
        score_threshold: Float in [0, 1]. Lowest score a detection keeps.
        iou_threshold: Float in [0, 1]. IoU above which NMS drops a box.
        max_detections: Positive integer. Detections kept per image.

    Example:

    >>> import numpy as np
    >>> detector = Detector.create("yolov8", (64, 64, 3), 2, width=0.0625)
    >>> detector.compile(optimizer="adam")  # its own loss: YOLOv8's, with DFL
    >>> boxes = np.array([[[8.0, 8.0, 40.0, 48.0]]], "float32")
    >>> targets = detector.targets(boxes, np.array([[1]]))  # for `fit`
    >>> out = detector.predict(np.zeros((1, 64, 64, 3)), verbose=0)
    >>> sorted(out), out["boxes"].shape
    (['boxes', 'labels', 'num_detections', 'scores'], (1, 50, 4))
    """

    def __init__(
        self,
        network,
        kind,
        num_classes,
        loss_options=None,
        score_threshold=0.2,
        iou_threshold=0.5,
        max_detections=50,
        **kwargs,
    ):
        if kind not in KINDS:
            raise ValueError(invalid_value("kind", kind, f"one of {', '.join(KINDS)}"))
        kwargs.setdefault("name", network.name)
        super().__init__(inputs=network.inputs[0], outputs=network.output, **kwargs)
        self.kind = kind
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.loss_options = dict(loss_options or {})
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = check_positive_int("max_detections", max_detections)
        self.image_shape = tuple(network.inputs[0].shape[1:])
        self.decoding()  # thresholds checked now, not at the first predict
        self._decode_batch = None
        # Each term of the loss logged apart (`boxes_loss`, `val_boxes_loss`...).
        self.term_trackers = [
            keras.metrics.Mean(name=f"{name}_loss")
            for name in self.make_loss().term_names
        ]

    @classmethod
    def create(cls, kind, input_shape, num_classes, *, loss_options=None, **options):
        """Builds the network of `kind` and its detector.

        Args:
            kind: String. `"v1"`, `"dense"` or `"yolov8"`.
            input_shape: `(height, width, channels)`.
            num_classes: Positive integer C.
            loss_options: Optional dict of the loss's arguments.
            **options: The network builder's options (`yolo_detector`,
                `dense_detector`, `yolov8_detector`) and the detector's
                `score_threshold`, `iou_threshold` and `max_detections`.
        """
        if kind not in KINDS:
            raise ValueError(invalid_value("kind", kind, f"one of {', '.join(KINDS)}"))
        own = {
            key: options.pop(key)
            for key in ("score_threshold", "iou_threshold", "max_detections")
            if key in options
        }
        network = KINDS[kind](input_shape, num_classes, **options)
        return cls(network, kind, num_classes, loss_options, **own)

    # -- what the kinds differ in ----------------------------------------

    @property
    def grid(self):
        """`(S, B)` of the v1 grid; `None` for the dense kinds."""
        if self.kind != "v1":
            return None
        rows, depth = self.output.shape[1], self.output.shape[-1]
        return rows, (depth - self.num_classes) // 5

    @property
    def bins(self):
        """Bins of each box side's distribution (0: a side is one number)."""
        return distribution_bins(self)

    def make_loss(self):
        """The kind's loss, with `loss_options`."""
        if self.grid is not None:
            grid_size, per_cell = self.grid
            return YoloLoss(grid_size, per_cell, self.num_classes, **self.loss_options)
        return TaskAlignedLoss(
            self.image_shape,
            level_shapes(self),
            self.num_classes,
            bins=self.bins,
            **self.loss_options,
        )

    def compile(self, optimizer="adam", loss=None, **kwargs):
        """`keras.Model.compile` with the kind's loss unless `loss` is given."""
        super().compile(optimizer=optimizer, loss=loss or self.make_loss(), **kwargs)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The compiled loss as the sum of its terms, each term's batch mean
        also logged (`<term>_loss`). A loss without terms (one the user
        compiled with) goes Keras's own way."""
        if not hasattr(self.loss, "terms") or sample_weight is not None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        terms = self.loss.terms(y, y_pred)
        total = 0.0
        for tracker, name in zip(self.term_trackers, self.loss.term_names):
            mean = ops.mean(terms[name])
            tracker.update_state(mean)
            total = total + mean
        if self.losses:
            total = total + ops.sum(self.losses)
        return total

    def targets(self, boxes, labels):
        """A batch's targets from its boxes (`(batch, M, 4)` "xyxy" pixels
        of the input) and labels (`(batch, M)`, -1 for padding), in
        TensorFlow ops (the tf.data pipeline computes them)."""
        import tensorflow as tf

        height, width = self.image_shape[0], self.image_shape[1]
        if self.grid is None:
            scale = tf.constant([width, height, width, height], tf.float32)
            labels = tf.cast(labels, tf.float32)[..., None]
            return tf.concat([tf.cast(boxes, tf.float32) / scale, labels], axis=-1)
        from components.detection.yolo_targets import encode_yolo_targets

        grid_size = self.grid[0]
        return tf.map_fn(
            lambda pair: encode_yolo_targets(
                pair[0], pair[1], self.image_shape, grid_size, self.num_classes
            ),
            (tf.cast(boxes, tf.float32), tf.cast(labels, tf.int32)),
            fn_output_signature=tf.float32,
        )

    def decoding(self):
        """The decoding layer: raw outputs in, the detections dict out."""
        thresholds = {
            "score_threshold": self.score_threshold,
            "iou_threshold": self.iou_threshold,
            "max_detections": self.max_detections,
        }
        if self.grid is not None:
            return YoloDecoding(
                self.image_shape, self.grid[1], name="decoding", **thresholds
            )
        classes = self.num_classes if self.bins else None
        return DenseDecoding(
            self.image_shape, num_classes=classes, name="decoding", **thresholds
        )

    def describe(self):
        """One line on what the network predicts."""
        shape = tuple(self.output.shape[1:])
        if self.grid is not None:
            grid_size, per_cell = self.grid
            return (
                f"YOLO output: {shape} = S x S x (5B + C) = {grid_size} x "
                f"{grid_size} x {5 * per_cell + self.num_classes}"
            )
        grids = " + ".join(f"{r}x{c}" for r, c in level_shapes(self))
        sides = (
            f", each side a distribution over {self.bins} distances"
            if self.bins
            else ""
        )
        return (
            f"{self.name} output: {shape}: {grids} locations, each a box and "
            f"{self.num_classes} class logits{sides}"
        )

    # -- answering --------------------------------------------------------

    def loss_terms(self, targets, raw):
        """The compiled loss's terms per image, as a dict of arrays."""
        loss = self.loss if hasattr(self.loss, "terms") else self.make_loss()
        return {k: np.asarray(v) for k, v in loss.terms(targets, raw).items()}

    def predict_raw(self, x, batch_size=None, verbose="auto", **kwargs):
        """The network's own outputs (`keras.Model.predict`)."""
        return super().predict(x, batch_size=batch_size, verbose=verbose, **kwargs)

    def decode(self, raw, batch=64):
        """Raw outputs to the detections dict of NumPy arrays, `batch` at a
        time (TensorFlow's non-maximum suppression, under any backend)."""
        import tensorflow as tf

        if self._decode_batch is None:  # traced once, for every later call
            self._decode_batch = tf.function(
                self.decoding().call, reduce_retracing=True
            )
        call = self._decode_batch
        parts = [
            call(tf.convert_to_tensor(np.asarray(raw[start : start + batch])))
            for start in range(0, len(raw), batch)
        ]
        return {
            key: np.concatenate([np.asarray(part[key]) for part in parts])
            for key in parts[0]
        }

    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        """Detections for images: the dict `decode` returns."""
        return self.decode(self.predict_raw(x, batch_size, verbose, **kwargs))

    def inference_model(self):
        """The network followed by its decoding layer (images in, the
        detections dict out), sharing the detector's layers."""
        return keras.Model(
            self.inputs[0], self.decoding()(self.output), name=f"{self.name}_inference"
        )

    # -- saving -----------------------------------------------------------

    def get_config(self):
        network = keras.Model(self.inputs[0], self.output, name=self.name)
        return {
            "network": keras.saving.serialize_keras_object(network),
            "kind": self.kind,
            "num_classes": self.num_classes,
            "loss_options": self.loss_options,
            "score_threshold": self.score_threshold,
            "iou_threshold": self.iou_threshold,
            "max_detections": self.max_detections,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        network = keras.saving.deserialize_keras_object(
            config.pop("network"), custom_objects=custom_objects
        )
        return cls(network, **config)
