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
import time

import numpy as np
import tensorflow as tf

from components import data, detection, models
from components.models.checks import check_positive_int
from recipes import distribution, harness, training

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

_flag = training.flag
QUICK = {"train_images": 600, "test_images": 100, "epochs": 6, "width": 8}


@dataclasses.dataclass
class Config(training.TrainingConfig):
    dataset: str = _flag("canvases", "'canvases' (digits, offline) or tfds:NAME.")
    image_size: int = _flag(112, "Side of the (square) images.")
    train_images: int = _flag(3000, "Training canvases.")
    validation_images: int = _flag(200, "Validation canvases.")
    test_images: int = _flag(500, "Test canvases (handwriting unseen in training).")
    max_objects: int = _flag(4, "Most objects per canvas (per image for tfds).")
    backbone: str = _flag("vgg", "Backbone builder.")
    width: int = _flag(16, "Width of the backbone.")
    stages: str = _flag("1,1,2,2", "VGG convolutions per stage (comma-separated).")
    head_width: int = _flag(256, "Channels of the head's 3x3 layers.")
    grid_size: int = _flag(7, "S: the grid is S x S.")
    boxes_per_cell: int = _flag(2, "B: boxes predicted per cell.")
    lambda_coord: float = _flag(5.0, "Weight of the box regression.")
    lambda_noobj: float = _flag(0.5, "Weight of the no-object confidence.")
    augment: bool = _flag(True, "Translation and scale jitter (boxes follow).")
    score_threshold: float = _flag(0.01, "Lowest score kept for evaluation.")
    iou_threshold: float = _flag(0.5, "IoU above which NMS drops a box.")
    gallery_threshold: float = _flag(0.3, "Lowest score drawn in the gallery.")
    quick: bool = _flag(False, "A small, fast run (600 canvases, 6 epochs).")
    seed: int = _flag(0, "Seed of the canvases, initialization and shuffling.")
    data_dir: str | None = _flag(None, "TFDS data directory.")
    download: bool = _flag(True, "Let TFDS download a missing dataset.")
    run_dir: str | None = _flag(None, "Run directory (default runs/yolo/<time>).")
    verbose: int = _flag(1, "Keras verbosity: 0, 1 or 2.")
    epochs: int = _flag(20, "Training epochs.")
    monitors: bool = _flag(False, "Log update ratios and dead units (slower).")

    def validate(self):
        self.validate_training()
        for name in (
            "image_size",
            "train_images",
            "validation_images",
            "test_images",
            "max_objects",
            "width",
            "head_width",
            "grid_size",
            "boxes_per_cell",
        ):
            check_positive_int(name, getattr(self, name))
        for name in ("score_threshold", "iou_threshold", "gallery_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"Invalid value received for argument `{name}`. Expected a float "
                    f"in [0, 1]. Received: {name}={getattr(self, name)}"
                )
        if self.backbone not in models.available():
            raise ValueError(
                "Invalid value received for argument `backbone`. Expected one of "
                f"{', '.join(models.available())}. Received: backbone={self.backbone!r}"
            )
        if self.dataset != "canvases" and not self.dataset.startswith("tfds:"):
            raise ValueError(
                "Invalid value received for argument `dataset`. Expected 'canvases' "
                f"or 'tfds:NAME'. Received: dataset={self.dataset!r}"
            )
        parse_stages(self.stages)


def parse_stages(text):
    try:
        stages = tuple(int(v) for v in text.split(","))
    except ValueError:
        stages = ()
    if not stages or min(stages) < 1:
        raise ValueError(
            "Invalid value received for argument `stages`. Expected positive "
            f"integers separated by commas, such as '1,1,2,2'. Received: stages={text!r}"
        )
    return stages


def apply_quick(config):
    """`--quick`: smaller settings for every flag still at its default."""
    return harness.apply_quick(config, QUICK)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def load_splits(config):
    if config.dataset == "canvases":
        return data.load_digit_canvases(
            config.train_images,
            config.validation_images,
            config.test_images,
            canvas_size=config.image_size,
            max_objects=config.max_objects,
            glyph_size=(max(8, config.image_size // 6), config.image_size * 2 // 5),
            seed=config.seed,
        )
    return data.load_tfds_detection(
        config.dataset,
        image_size=config.image_size,
        max_objects=config.max_objects,
        data_dir=config.data_dir,
        download=config.download,
    )


def make_pipeline(config, splits, dataset, epoch_seeds=None):
    """Batches of `(images, YOLO targets)`; training ones (with `epoch_seeds`)
    shuffled by epoch and augmented."""
    batch_size = config.batch_size
    dataset = dataset.cache()
    training = epoch_seeds is not None
    if training:
        dataset = data.shuffle_by_epoch(dataset, epoch_seeds)
    dataset = dataset.batch(batch_size)
    if training and config.augment:
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


def ground_truth(dataset):
    """All `(images, boxes, labels)` of a split as NumPy arrays."""
    images, boxes, labels = [], [], []
    for batch in dataset.batch(256).as_numpy_iterator():
        images.append(batch["images"])
        boxes.append(batch["bounding_boxes"]["boxes"])
        labels.append(batch["bounding_boxes"]["labels"])
    return np.concatenate(images), np.concatenate(boxes), np.concatenate(labels)


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


def build_model(config, splits):
    options = {"width": config.width}
    if config.backbone == "vgg":
        options["stages"] = parse_stages(config.stages)
    return detection.yolo_detector(
        splits.image_shape,
        splits.num_classes,
        backbone=config.backbone,
        grid_size=config.grid_size,
        boxes_per_cell=config.boxes_per_cell,
        head_width=config.head_width,
        **options,
    )


# ---------------------------------------------------------------------------
# Evaluate
# ---------------------------------------------------------------------------


def detect(config, model, images):
    """Raw outputs, then detections; with images/s and post-processing ms/image."""
    model.predict(images[:8], verbose=0)  # compile the predict function first
    start = time.perf_counter()
    raw = model.predict(images, batch_size=64, verbose=0)
    predict_seconds = time.perf_counter() - start

    @tf.function(reduce_retracing=True)
    def decode(batch):
        return detection.decode_predictions(
            batch,
            images.shape[1:],
            config.boxes_per_cell,
            config.score_threshold,
            config.iou_threshold,
        )

    decode(raw[:8])
    start = time.perf_counter()
    parts = [decode(raw[i : i + 64]) for i in range(0, len(raw), 64)]
    post_seconds = time.perf_counter() - start
    detections = {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}
    timing = {
        "inference_images_per_second": round(len(images) / predict_seconds, 1),
        "postprocess_ms_per_image": round(1000 * post_seconds / len(images), 3),
    }
    return detections, timing


def plot_gallery(images, boxes, labels, detections, threshold, class_names, path):
    """Test images with true boxes (green) and detections (red, label:score)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    count = min(12, len(images))
    fig, axes = plt.subplots(3, 4, figsize=(12, 9))
    for index, panel in enumerate(axes.flat):
        panel.axis("off")
        if index >= count:
            continue
        image = images[index]
        panel.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
        for box, label in zip(boxes[index], labels[index]):
            if label >= 0:
                x0, y0, x1, y1 = box
                panel.add_patch(
                    Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime")
                )
        for k in range(int(detections["num_detections"][index])):
            score = detections["scores"][index][k]
            if score < threshold:
                continue
            x0, y0, x1, y1 = detections["boxes"][index][k]
            name = class_names[int(detections["labels"][index][k])]
            panel.add_patch(
                Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="red", ls="--")
            )
            panel.text(x0, y0 - 1, f"{name}:{score:.2f}", color="red", fontsize=7)
    fig.suptitle("green: ground truth; red: detections")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    """Trains and scores the detector; returns the metrics dict."""
    config, parser = harness.parse_config(
        Config, argv, "python -m recipes.yolo", __doc__.split("\n")[0]
    )
    config = apply_quick(config)
    harness.seed_everything(config.seed, config.deterministic)
    with harness.usage_errors(parser):
        config.validate()
        strategy = distribution.make_strategy(config.strategy)
        splits = load_splits(config)
        with strategy.scope():
            model = build_model(config, splits)
    unsync = distribution.synchronize_batch_norm(model, strategy)
    run = harness.RunDirectory(
        distribution.worker_path(config.run_dir, strategy), "yolo"
    )
    run.write_config(config)

    # Train.
    steps = -(-splits.sizes["train"] // config.batch_size)
    loss = detection.YoloLoss(
        config.grid_size,
        config.boxes_per_cell,
        splits.num_classes,
        config.lambda_coord,
        config.lambda_noobj,
    )
    epoch_seeds = data.EpochSeeds(config.seed)
    train = make_pipeline(config, splits, splits.train, epoch_seeds)
    backup = distribution.worker_path(config.backup_dir, strategy)
    with strategy.scope():
        training.compile_model(config, model, steps, loss, metrics=())
        distribution.prepare_fit(model, strategy, train)
        start = time.perf_counter()
        model.fit(
            train,
            validation_data=make_pipeline(config, splits, splits.validation),
            epochs=config.epochs,
            callbacks=[epoch_seeds]
            + training.training_callbacks(config, None)
            + run.callbacks(backup_dir=backup),
            verbose=config.verbose,
            shuffle=False,
        )
        train_seconds = time.perf_counter() - start
    unsync()
    # The CSV holds every epoch, also those of a run resumed from a backup.
    history = harness.read_history(run.file("history.csv"))

    # Evaluate.
    images, boxes, labels = ground_truth(splits.test)
    detections, timing = detect(config, model, images)
    truth = detection.coco_ground_truth(
        boxes, labels, splits.image_shape, splits.class_names
    )
    rows = detection.coco_detections(detections)
    scores = detection.coco_evaluate(truth, rows)
    metrics = {
        "dataset": splits.name,
        "map50": scores["map50"],
        "map": scores["map"],
        "map75": scores["map75"],
        "per_class_ap50": scores["per_class_ap50"],
        "per_class_ap": scores["per_class_ap"],
        "test_images": int(len(images)),
        "test_objects": int((labels >= 0).sum()),
        "epochs": config.epochs,
        "train_seconds": round(train_seconds, 1),
        "parameters": int(model.count_params()),
        **timing,
    }

    # Artifacts.
    run.write_json("ground_truth.json", truth)
    run.write_json("detections.json", rows)
    model.save(run.file("model.keras"))
    harness.plot_histories([history], run.file("curves.png"), "YOLO loss")
    plot_gallery(
        images,
        boxes,
        labels,
        detections,
        config.gallery_threshold,
        splits.class_names,
        run.file("gallery.png"),
    )
    run.write_json("metrics.json", metrics)
    harness.report(
        [
            f"run directory: {run.path}",
            f"mAP@0.5: {metrics['map50']:.4f}   mAP@[.5:.95]: {metrics['map']:.4f}",
            "AP@0.5 per class: "
            + ", ".join(f"{k} {v:.3f}" for k, v in scores["per_class_ap50"].items()),
            f"inference: {timing['inference_images_per_second']} images/s; "
            f"post-processing: {timing['postprocess_ms_per_image']} ms/image",
            f"training time: {train_seconds:.1f} s",
        ]
    )
    return metrics


if __name__ == "__main__":
    main()
