"""YOLO: object detection as one regression, trained and scored for real.

The notes' YOLO section: divide the image into an S x S grid (S = 7); each cell
predicts B = 2 boxes (4 coordinates and a confidence) and C class scores, so
the network regresses an S x S x (5B + C) tensor; boxes above a score threshold
are kept. This recipe trains that on canvases of real handwritten digits
(offline; the test canvases hold only handwriting never seen in training),
scores it with pycocotools (mAP@0.5, mAP@[.5:.95], per-class AP) and times
inference and post-processing.

    python -m recipes.yolo                  # ~11 minutes on a 2-core CPU
    python -m recipes.yolo --quick          # < 2 minutes
    python -m recipes.yolo --dataset tfds:voc/2007 --image-size 224 --epochs 60

The run directory holds `config.json`, `metrics.json` (`map50`, `map`, ...),
`ground_truth.json` and `detections.json` (COCO format: re-score them with
pycocotools), `model.keras`, `history.csv`, `curves.png` and `gallery.png`.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from components import data, detection
from recipes import detecting, training
from recipes.run import Run

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

_flag = training.flag
QUICK = {"train_images": 600, "test_images": 100, "epochs": 6, "width": 8}


@dataclasses.dataclass
class Config(detecting.DetectionConfig):
    head_width: int = _flag(256, "Channels of the head's 3x3 layers.")
    grid_size: int = _flag(7, "S: the grid is S x S.")
    boxes_per_cell: int = _flag(2, "B: boxes predicted per cell.")
    lambda_coord: float = _flag(5.0, "Weight of the box regression.")
    lambda_noobj: float = _flag(0.5, "Weight of the no-object confidence.")
    augment: bool = _flag(True, "Translation and scale jitter (boxes follow).")
    quick: bool = _flag(False, "A small, fast run (600 canvases, 6 epochs).")
    run_dir: str | None = _flag(None, "Run directory (default runs/yolo/<time>).")
    epochs: int = _flag(20, "Training epochs.")

    def validate(self):
        self.validate_detection(("head_width", "grid_size", "boxes_per_cell"))


# Kept under their old names: the tuning module and users import them from here.
parse_stages = detecting.parse_stages
load_splits = detecting.load_splits
ground_truth = detecting.ground_truth


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def make_pipeline(config, splits, dataset, epoch_seeds=None):
    """Batches of `(images, YOLO targets)`; training ones (with `epoch_seeds`)
    shuffled by epoch and augmented."""
    batch_size = config.batch_size
    dataset = dataset.cache()
    training = epoch_seeds is not None
    if training:
        dataset = data.shuffle_by_epoch(dataset, epoch_seeds)
    dataset = dataset.batch(batch_size)
    if training and config.augment and not config.overfit_subset:
        augment = data.build_box_augmentation(seed=config.seed)
        dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)

    def encode(batch):
        boxes = batch["bounding_boxes"]["boxes"]
        labels = batch["bounding_boxes"]["labels"]
        targets = tf.map_fn(
            lambda pair: detection.encode_yolo_targets(
                pair[0],
                pair[1],
                splits.image_shape,
                config.grid_size,
                splits.num_classes,
            ),
            (boxes, labels),
            fn_output_signature=tf.float32,
        )
        return batch["images"], targets

    dataset = dataset.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(data.distribution_options())


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


def build_model(config, splits):
    return detection.yolo_detector(
        splits.image_shape,
        splits.num_classes,
        backbone=config.backbone,
        grid_size=config.grid_size,
        boxes_per_cell=config.boxes_per_cell,
        head_width=config.head_width,
        **detecting.backbone_options(config),
    )


def compile_detector(config, model, splits):
    """The YOLO loss and the flags' optimizer and schedule (the search
    compiles its trials here too)."""
    steps = -(-splits.sizes["train"] // config.batch_size)
    loss = detection.YoloLoss(
        config.grid_size,
        config.boxes_per_cell,
        splits.num_classes,
        config.lambda_coord,
        config.lambda_noobj,
    )
    return training.compile_model(config, model, steps, loss, metrics=())


# ---------------------------------------------------------------------------
# Evaluate
# ---------------------------------------------------------------------------


def detect(config, model, images):
    """Raw outputs, then detections; with images/s and post-processing ms/image."""
    raw, predict_seconds = detecting.timed_predict(model, images)

    @tf.function(reduce_retracing=True)
    def decode(batch):
        return detection.decode_predictions(
            batch,
            images.shape[1:],
            config.boxes_per_cell,
            config.score_threshold,
            config.iou_threshold,
        )

    detections, post_seconds = detecting.decode_in_batches(decode, raw)
    timing = {
        "inference_images_per_second": round(len(images) / predict_seconds, 1),
        "postprocess_ms_per_image": round(1000 * post_seconds / len(images), 3),
    }
    return detections, timing


def main(argv=None):
    """Trains and scores the detector; returns the metrics dict."""
    run = Run.start(Config, argv, "yolo", __doc__, quick=QUICK)
    config = run.config
    with run.usage_errors():
        splits = load_splits(config)
        with run.scope():
            model = build_model(config, splits)
    run.open()

    # Train.
    epoch_seeds = data.EpochSeeds(config.seed)
    with run.scope():
        compile_detector(config, model, splits)
    run.fit(
        model,
        make_pipeline(config, splits, splits.train, epoch_seeds),
        make_pipeline(config, splits, splits.validation),
        callbacks=[epoch_seeds],
    )

    # Evaluate.
    test = ground_truth(splits.test)
    detections, timing = detect(config, model, test[0])
    return detecting.finish(
        run,
        splits,
        model,
        test,
        detections,
        extra=timing,
        curves=("loss",),
        title="YOLO",
    )


if __name__ == "__main__":
    main()
