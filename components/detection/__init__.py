"""Object detection parts: boxes, YOLO targets, head, loss, decoding, COCO evaluation."""

from components.detection.boxes import check_boxes
from components.detection.coco_eval import (
    coco_detections,
    coco_evaluate,
    coco_ground_truth,
)
from components.detection.postprocess import decode_predictions
from components.detection.yolo_loss import YoloLoss, split_predictions
from components.detection.yolo_model import backbone_features, yolo_detector
from components.detection.yolo_targets import decode_yolo_targets, encode_yolo_targets

__all__ = [
    "YoloLoss",
    "backbone_features",
    "check_boxes",
    "coco_detections",
    "coco_evaluate",
    "coco_ground_truth",
    "decode_predictions",
    "decode_yolo_targets",
    "encode_yolo_targets",
    "split_predictions",
    "yolo_detector",
]
