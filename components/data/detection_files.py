"""`coco:` and `yolo:` specs to `DetectionSplits`: the one entry point for a
user's detection files."""

from __future__ import annotations

from components.data.annotations import load_coco_detection, parse_coco_spec
from components.data.yolo_source import load_yolo_detection


def load_detection_files(spec, **kwargs):
    """A user's detection files to `DetectionSplits`.

    Args:
        spec: String. `coco:ANNOTATIONS.json[:IMAGES_DIR]` (one JSON, split
            at random), `coco:TRAIN.json,VAL.json[,TEST.json]` (a JSON per
            split, each may add `:IMAGES_DIR`; `load_coco_detection`), or
            `yolo:PATH` (a YOLO folder, split at random, or the splits of its
            data.yaml) or `yolo:PATH/data.yaml` (`load_yolo_detection`).
        **kwargs: Passed to the loader (`image_size`, `seed`, `cache`, ...).

    Returns:
        A `DetectionSplits`.
    """
    if spec.startswith("yolo:"):
        return load_yolo_detection(spec[5:], **kwargs)
    annotations, images_dir = parse_coco_spec(spec[5:])
    return load_coco_detection(annotations, images_dir, **kwargs)
