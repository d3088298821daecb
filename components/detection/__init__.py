"""Object detection parts: boxes, YOLO, the R-CNN family, decoding, COCO evaluation,
PR/F1 curves and the confusion matrix.

Detectors are built by name like the classifiers (`build("faster_rcnn",
shape, classes, backbone="vgg")`, `available()`). Everything
detection-specific lives here, layers included (`RoIPooling`,
`RegionWarp`, `SplitRegions`, `ProposalSelection`). `__all__` lists what a
user builds a detector from; the helpers they use (`split_predictions`,
`matrix_nms`, target builders...) stay importable from their modules.
"""

from components.detection.anchors import (
    BOX_VARIANCE as BOX_VARIANCE,
)
from components.detection.anchors import (
    anchor_grid,
    decode_deltas,
    encode_deltas,
    match_boxes,
)
from components.detection.boxes import check_boxes as check_boxes
from components.detection.coco_eval import (
    DetectionRows,
    ap_by_size,
    coco_detections,
    coco_evaluate,
    coco_ground_truth,
)
from components.detection.curves import (
    confusion_matrix,
    operating_curves,
    plot_confusion_matrix,
    plot_f1_curves,
    plot_pr_curves,
)
from components.detection.decoding import (
    DenseDecoding,
    RegionDecoding,
    YoloDecoding,
    dense_inference_model,
    region_inference_model,
    without_decoding,
    yolo_inference_model,
)
from components.detection.dense_loss import TaskAlignedLoss
from components.detection.dense_model import dense_detector
from components.detection.detector import Detector
from components.detection.proposals import (
    propose_regions,
    selective_search,
)
from components.detection.proposals import (
    sample_regions as sample_regions,
)
from components.detection.rcnn_losses import (
    anchor_targets as anchor_targets,
)
from components.detection.rcnn_losses import (
    detector_classification_loss,
    detector_regression_loss,
    rpn_classification_loss,
    rpn_regression_loss,
)
from components.detection.rcnn_losses import (
    region_targets as region_targets,
)
from components.detection.rcnn_model import (
    RegionDetector,
    fast_rcnn_network,
    faster_rcnn_network,
    rcnn_network,
)
from components.detection.region_warp import RegionWarp, SplitRegions
from components.detection.registry import available, build
from components.detection.roi_pooling import RoIPooling
from components.detection.rpn import (
    ProposalSelection,
    rpn_head,
)
from components.detection.rpn import (
    matrix_nms as matrix_nms,
)
from components.detection.validation import DetectionValidation
from components.detection.yolo_loss import (
    YoloLoss,
)
from components.detection.yolo_loss import (
    split_predictions as split_predictions,
)
from components.detection.yolo_model import (
    yolo_detector,
)
from components.detection.yolov8 import SIZES as YOLOV8_SIZES
from components.detection.yolov8 import (
    DistributionBoxes,
    c2f_block,
    sppf,
    yolov8_detector,
)

# These run inside tf.data pipelines (TensorFlow ops), so they are imported on
# first use: the networks, losses and layers above also load under Keras on
# JAX or torch with no TensorFlow installed (`benchmarks.throughput` on a GPU).
_NEEDS_TENSORFLOW = {
    "decode_dense_predictions": "components.detection.postprocess",
    "decode_predictions": "components.detection.postprocess",
    "decode_region_detections": "components.detection.postprocess",
    "decode_yolo_targets": "components.detection.yolo_targets",
    "encode_yolo_targets": "components.detection.yolo_targets",
}


def __getattr__(name):
    if name in _NEEDS_TENSORFLOW:
        import importlib

        return getattr(importlib.import_module(_NEEDS_TENSORFLOW[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_NEEDS_TENSORFLOW])


__all__ = [
    "Detector",
    "DistributionBoxes",
    "YOLOV8_SIZES",
    "c2f_block",
    "sppf",
    "yolov8_detector",
    "DenseDecoding",
    "TaskAlignedLoss",
    "dense_detector",
    "dense_inference_model",
    "decode_dense_predictions",
    "ProposalSelection",
    "RegionDecoding",
    "RegionDetector",
    "RegionWarp",
    "RoIPooling",
    "DetectionRows",
    "DetectionValidation",
    "SplitRegions",
    "YoloDecoding",
    "YoloLoss",
    "anchor_grid",
    "ap_by_size",
    "available",
    "build",
    "coco_detections",
    "coco_evaluate",
    "coco_ground_truth",
    "confusion_matrix",
    "decode_deltas",
    "decode_predictions",
    "decode_region_detections",
    "decode_yolo_targets",
    "detector_classification_loss",
    "detector_regression_loss",
    "encode_deltas",
    "encode_yolo_targets",
    "fast_rcnn_network",
    "faster_rcnn_network",
    "match_boxes",
    "operating_curves",
    "plot_confusion_matrix",
    "plot_f1_curves",
    "plot_pr_curves",
    "propose_regions",
    "rcnn_network",
    "region_inference_model",
    "rpn_classification_loss",
    "rpn_head",
    "rpn_regression_loss",
    "selective_search",
    "yolo_detector",
    "yolo_inference_model",
    "without_decoding",
]
