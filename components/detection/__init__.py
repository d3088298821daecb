"""Object detection parts: boxes, YOLO, the R-CNN family, decoding, COCO evaluation."""

from components.detection.anchors import (
    BOX_VARIANCE,
    anchor_grid,
    decode_deltas,
    encode_deltas,
    match_boxes,
)
from components.detection.boxes import check_boxes
from components.detection.coco_eval import (
    coco_detections,
    coco_evaluate,
    coco_ground_truth,
)
from components.detection.postprocess import (
    decode_predictions,
    decode_region_detections,
)
from components.detection.proposals import (
    propose_regions,
    sample_regions,
    selective_search,
)
from components.detection.rcnn_losses import (
    anchor_targets,
    detector_classification_loss,
    detector_regression_loss,
    region_targets,
    rpn_classification_loss,
    rpn_regression_loss,
)
from components.detection.rcnn_model import (
    RegionDetector,
    fast_rcnn_network,
    faster_rcnn_network,
    rcnn_network,
)
from components.detection.region_warp import RegionWarp, SplitRegions
from components.detection.rpn import ProposalSelection, matrix_nms, rpn_head
from components.detection.yolo_loss import YoloLoss, split_predictions
from components.detection.yolo_model import backbone_features, yolo_detector
from components.detection.yolo_targets import decode_yolo_targets, encode_yolo_targets
from components.layers.roi_pooling import RoIPooling

__all__ = [
    "BOX_VARIANCE",
    "ProposalSelection",
    "RegionDetector",
    "RegionWarp",
    "RoIPooling",
    "SplitRegions",
    "YoloLoss",
    "anchor_grid",
    "anchor_targets",
    "backbone_features",
    "check_boxes",
    "coco_detections",
    "coco_evaluate",
    "coco_ground_truth",
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
    "matrix_nms",
    "propose_regions",
    "rcnn_network",
    "region_targets",
    "rpn_classification_loss",
    "rpn_head",
    "rpn_regression_loss",
    "sample_regions",
    "selective_search",
    "split_predictions",
    "yolo_detector",
]
