"""R-CNN, Fast R-CNN and Faster R-CNN: networks, and a model that trains them.

The three share the detection head (class scores over C classes +
background, one box refinement per class) and its two losses; they differ
in where regions come from and where the CNN runs:

- R-CNN: external proposals; every region is warped and goes through the
  CNN on its own.
- Fast R-CNN: external proposals; the CNN runs once per image and
  `RoIPooling` cuts each region's features out of the shared map.
- Faster R-CNN: a region proposal network on the shared map replaces the
  external proposals, trained jointly with two more losses.
"""

from __future__ import annotations

import keras
from keras import ops

from components import models
from components.checks import check_positive_int
from components.detection import rcnn_losses
from components.detection.region_warp import RegionWarp, SplitRegions
from components.detection.roi_pooling import RoIPooling
from components.detection.rpn import ProposalSelection, rpn_head

LOSS_NAMES = (
    "rpn_classification",
    "rpn_regression",
    "detector_classification",
    "detector_regression",
)


def _trunk(input_shape, backbone, backbone_options):
    """The registry model up to its last feature map, as a model of its own.

    A final max-pooling is left out, as Faster R-CNN does with VGG16 (its
    features are conv5_3, before pool5): the same depth of features at
    twice the resolution, so that small objects span several cells.
    """
    base = models.build(backbone, input_shape, 2, include_top=False, **backbone_options)
    marker = base.layers[-1]  # the builder's `feature_map` identity
    features = marker.input
    last = next(layer for layer in base.layers if layer.output is features)
    if isinstance(last, keras.layers.MaxPooling2D):
        features = last.input
    return keras.Model(base.input, features, name=f"{backbone}_trunk")


def detection_head(regions_features, num_classes, width=256, dropout=0.5, name="head"):
    """Per-region class logits `(batch, R, C + 1)` and deltas `(batch, R, C, 4)`.

    Two fully connected ReLU layers shared by all regions, each followed by
    dropout (VGG16's fc6 and fc7, which Fast R-CNN keeps: here they keep the
    head from learning the training glyphs by heart), then Fast R-CNN's
    sibling outputs: softmax logits over C classes plus background (index
    0), and one set of box deltas per class.
    """
    x = regions_features
    for index in range(2):
        fc = keras.layers.Dense(width, activation="relu", name=f"{name}_fc{index + 1}")
        x = fc(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout{index + 1}")(x)
    logits = keras.layers.Dense(num_classes + 1, name="class_logits")(x)
    deltas = keras.layers.Dense(
        4 * num_classes,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
        name=f"{name}_deltas",
    )(x)
    deltas = keras.layers.Reshape((-1, num_classes, 4), name="box_deltas")(deltas)
    return logits, deltas


@keras.saving.register_keras_serializable(package="components")
class RegionDetector(keras.Model):
    """Trains a region-based detector network with its own losses.

    Wraps a network built by `rcnn_network`, `fast_rcnn_network` or
    `faster_rcnn_network`, whose outputs are a dict. `fit` takes targets in
    Keras's bounding-box layout, `{"boxes": (batch, M, 4) "xyxy" pixels,
    "labels": (batch, M)}` padded with -1, and builds every target in the
    training step: the regions the network used are labelled against the
    true boxes (`region_targets`), and with a region proposal network so are
    its anchors (`anchor_targets`). Each of the four losses is logged on its
    own (`rpn_classification`, `rpn_regression`, `detector_classification`,
    `detector_regression`); `loss` is their sum.

    Args:
        network: A functional `keras.Model` with outputs `rois`,
            `class_logits`, `box_deltas` and, for Faster R-CNN,
            `rpn_objectness` and `rpn_deltas` (and a `ProposalSelection`
            layer named "proposals").
        foreground_iou: Float. IoU for a region to count as an object.
        rpn_positive_iou: Float. IoU for an anchor to count as an object.
        rpn_negative_iou: Float. Anchors under this IoU are background.
        true_boxes_as_regions: Boolean (Faster R-CNN). In training, the
            detector head also sees every true box as a region, as the
            reference implementation's proposal target layer adds them:
            objects to learn from while the young RPN proposes poorly.

    Example:

    >>> net = fast_rcnn_network((32, 32, 1), 3, width=4, stages=(1, 1))
    >>> model = RegionDetector(net)
    >>> import numpy as np
    >>> out = model({"images": np.zeros((1, 32, 32, 1)), "rois": np.zeros((1, 5, 4))})
    >>> tuple(out["class_logits"].shape), tuple(out["box_deltas"].shape)
    ((1, 5, 4), (1, 5, 3, 4))
    """

    def __init__(
        self,
        network,
        foreground_iou=0.5,
        rpn_positive_iou=0.7,
        rpn_negative_iou=0.3,
        true_boxes_as_regions=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        missing = {"rois", "class_logits", "box_deltas"} - set(network.output)
        if missing:
            raise ValueError(
                "Invalid value received for argument `network`. Expected a model "
                f"whose outputs include rois, class_logits and box_deltas. Missing: "
                f"{sorted(missing)}"
            )
        self.network = network
        self.foreground_iou = float(foreground_iou)
        self.rpn_positive_iou = float(rpn_positive_iou)
        self.rpn_negative_iou = float(rpn_negative_iou)
        self.has_rpn = "rpn_objectness" in network.output
        self.true_boxes_as_regions = bool(true_boxes_as_regions)
        self._views = None
        if self.has_rpn and self.true_boxes_as_regions:
            self._views = _TrainingViews(network)
        names = LOSS_NAMES if self.has_rpn else LOSS_NAMES[2:]
        self.loss_trackers = [keras.metrics.Mean(name=name) for name in names]
        self.built = True  # the network is built: nothing waits for a first call

    def call(self, inputs, training=False):
        if training and self._views is not None:
            # The head runs in `detection_losses`, once the true boxes are known.
            return self._views.proposer(inputs, training=True)
        return self.network(inputs, training=training)

    def add_true_boxes(self, y_pred, boxes):
        """The head's outputs on the proposals followed by the true boxes.

        `y_pred` is what the model returns when training with
        `true_boxes_as_regions`: the RPN's outputs, the proposals (`rois`)
        and the shared map (`features`), before the head. Returns it with
        `rois` `(batch, P + M, 4)` (the -1 padding of `boxes` stays padding,
        in no loss), `class_logits` and `box_deltas`.
        """
        proposals = ops.stop_gradient(y_pred["rois"])
        regions = ops.concatenate([proposals, ops.cast(boxes, proposals.dtype)], 1)
        head = self._views.head([y_pred["features"], regions], training=True)
        return {**y_pred, "rois": regions, **head}

    def detection_losses(self, y, y_pred):
        """The losses of one batch, as a dict named like `LOSS_NAMES`."""
        boxes, labels = y["boxes"], y["labels"]
        losses = {}
        if self.has_rpn:
            anchors = self.network.get_layer("proposals").anchors
            matches, deltas = rcnn_losses.anchor_targets(
                anchors, boxes, self.rpn_positive_iou, self.rpn_negative_iou
            )
            losses["rpn_classification"] = rcnn_losses.rpn_classification_loss(
                matches, y_pred["rpn_objectness"]
            )
            losses["rpn_regression"] = rcnn_losses.rpn_regression_loss(
                matches, deltas, y_pred["rpn_deltas"]
            )
        if "features" in y_pred:  # training: the head has not run yet
            y_pred = self.add_true_boxes(y_pred, boxes)
        classes, deltas = rcnn_losses.region_targets(
            ops.stop_gradient(y_pred["rois"]), boxes, labels, self.foreground_iou
        )
        losses["detector_classification"] = rcnn_losses.detector_classification_loss(
            classes, y_pred["class_logits"]
        )
        losses["detector_regression"] = rcnn_losses.detector_regression_loss(
            classes, deltas, y_pred["box_deltas"]
        )
        return losses

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        losses = self.detection_losses(y, y_pred)
        for tracker in self.loss_trackers:
            tracker.update_state(losses[tracker.name])
        total = ops.sum(ops.stack(list(losses.values())))
        for extra in self.losses:  # weight penalties of the layers
            total = total + ops.cast(extra, total.dtype)
        return total

    def get_config(self):
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "foreground_iou": self.foreground_iou,
            "rpn_positive_iou": self.rpn_positive_iou,
            "rpn_negative_iou": self.rpn_negative_iou,
            "true_boxes_as_regions": self.true_boxes_as_regions,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


class _TrainingViews:
    """Two models over a Faster R-CNN network's own layers: images to its
    RPN outputs, proposals and shared map; (map, regions) to its head.

    A plain object, not a Keras attribute: the layers are the network's and
    are tracked and saved with it, once.
    """

    def __init__(self, network):
        features, rois = network.get_layer("roi_pooling").input
        out = network.output
        kept = ("rpn_objectness", "rpn_deltas", "rois")
        self.proposer = keras.Model(
            network.input, {**{k: out[k] for k in kept}, "features": features}
        )
        self.head = keras.Model(
            [features, rois],
            {"class_logits": out["class_logits"], "box_deltas": out["box_deltas"]},
        )
        # Any number of regions: the proposals and the true boxes.
        self.head.input_spec = [keras.InputSpec(ndim=4), keras.InputSpec(ndim=3)]


def rcnn_network(
    input_shape,
    num_classes,
    crop_size=32,
    backbone="vgg",
    head_width=256,
    head_dropout=0.5,
    **options,
):
    """R-CNN: warp each region to `crop_size` and run the CNN on each crop.

    Inputs `{"images", "rois"}`; the CNN is the registry `backbone` at the
    crop size; its feature map, flattened, feeds `detection_head`.

    Example:

    >>> net = rcnn_network((32, 32, 1), 3, crop_size=16, width=4, stages=(1, 1))
    >>> sorted(net.output)
    ['box_deltas', 'class_logits', 'rois']
    """
    check_positive_int("num_classes", num_classes)
    images = keras.Input(input_shape, name="images")
    rois = keras.Input((None, 4), name="rois")
    crops = RegionWarp(crop_size, name="warp")([images, rois])
    trunk = _trunk((crop_size, crop_size, input_shape[-1]), backbone, options)
    features = keras.layers.Flatten(name="flatten")(trunk(crops))
    features = SplitRegions(name="regions_features")([features, rois])
    logits, deltas = detection_head(features, num_classes, head_width, head_dropout)
    outputs = {
        "rois": keras.layers.Identity(name="regions")(rois),
        "class_logits": logits,
        "box_deltas": deltas,
    }
    return keras.Model({"images": images, "rois": rois}, outputs, name="rcnn")


def _shared_trunk(input_shape, backbone, options):
    trunk = _trunk(input_shape, backbone, options)
    height = trunk.output.shape[1]
    if input_shape[0] % height or input_shape[1] % trunk.output.shape[2]:
        raise ValueError(
            f"The {backbone} backbone gives a {height}x{trunk.output.shape[2]} feature "
            f"map at input {tuple(input_shape)}: the input must be a multiple of it."
        )
    return trunk, input_shape[0] // height


def _pooled_head(features, rois, stride, num_classes, pool_size, width, dropout):
    pooled = RoIPooling(pool_size, 1.0 / stride, name="roi_pooling")([features, rois])
    flat = keras.layers.Reshape((-1, pool_size * pool_size * features.shape[-1]))(
        pooled
    )
    return detection_head(flat, num_classes, width, dropout)


def fast_rcnn_network(
    input_shape,
    num_classes,
    pool_size=7,
    backbone="vgg",
    head_width=256,
    head_dropout=0.5,
    **options,
):
    """Fast R-CNN: one CNN pass per image, `RoIPooling` per region.

    Example:

    >>> net = fast_rcnn_network((32, 32, 1), 3, pool_size=2, width=4, stages=(1, 1, 1))
    >>> net.get_layer("roi_pooling").spatial_scale  # stride 4
    0.25
    """
    check_positive_int("num_classes", num_classes)
    images = keras.Input(input_shape, name="images")
    rois = keras.Input((None, 4), name="rois")
    trunk, stride = _shared_trunk(input_shape, backbone, options)
    features = trunk(images)
    logits, deltas = _pooled_head(
        features, rois, stride, num_classes, pool_size, head_width, head_dropout
    )
    outputs = {
        "rois": keras.layers.Identity(name="regions")(rois),
        "class_logits": logits,
        "box_deltas": deltas,
    }
    return keras.Model({"images": images, "rois": rois}, outputs, name="fast_rcnn")


def faster_rcnn_network(
    input_shape,
    num_classes,
    anchor_sizes=(16, 32, 48),
    aspect_ratios=(0.5, 1.0, 2.0),
    proposals=64,
    pre_nms=300,
    nms_iou=0.7,
    pool_size=7,
    rpn_width=128,
    backbone="vgg",
    head_width=256,
    head_dropout=0.5,
    **options,
):
    """Faster R-CNN: a region proposal network on the shared feature map.

    Example:

    >>> net = faster_rcnn_network((32, 32, 1), 3, (8,), (1,), proposals=8,
    ...                           pool_size=2, width=4, stages=(1, 1, 1))
    >>> tuple(net.output["rois"].shape), tuple(net.output["rpn_objectness"].shape)
    ((None, 8, 4), (None, 64))
    """
    check_positive_int("num_classes", num_classes)
    images = keras.Input(input_shape, name="images")
    trunk, stride = _shared_trunk(input_shape, backbone, options)
    features = trunk(images)
    num_anchors = len(anchor_sizes) * len(aspect_ratios)
    objectness, rpn_deltas = rpn_head(features, num_anchors, rpn_width)
    rois = ProposalSelection(
        input_shape,
        features.shape[1:3],
        stride,
        anchor_sizes,
        aspect_ratios,
        pre_nms=pre_nms,
        proposals=proposals,
        iou_threshold=nms_iou,
        name="proposals",
    )([objectness, rpn_deltas])
    logits, deltas = _pooled_head(
        features, rois, stride, num_classes, pool_size, head_width, head_dropout
    )
    outputs = {
        "rpn_objectness": objectness,
        "rpn_deltas": rpn_deltas,
        "rois": rois,
        "class_logits": logits,
        "box_deltas": deltas,
    }
    return keras.Model(images, outputs, name="faster_rcnn")
