"""YOLO: object detection as one regression, trained and scored for real.

The notes' YOLO section, taught in the order the method runs, each step with
its code right below it:

1. **What YOLO predicts.** The image is cut into an S x S grid (S = 7). Each
   cell predicts B = 2 boxes, each as 5 numbers (centre x, y within the cell,
   width and height relative to the image, a confidence), and C class
   probabilities shared by its boxes: one S x S x (5B + C) tensor, 7 x 7 x 20
   for the ten digits.
2. **Targets.** The cell holding an object's centre is responsible for it;
   one canvas becomes an S x S x (5 + C) target (`targets.png` shows it).
3. **The network.** Any backbone of `components.models`, then a grid head.
4. **The loss, term by term.** Sum-squared errors of the centres and of the
   square roots of the sizes (weighted by lambda_coord = 5), of the
   confidences (against the IoU the box reaches, and against 0 where there is
   no object, weighted by lambda_noobj = 0.5) and of the class probabilities.
5. **Training.** The run lifecycle of every recipe (`recipes.run`).
6. **Decoding.** Class-specific scores `P(class | object) * confidence`, a
   threshold, then non-maximum suppression class by class.
7. **Scoring.** pycocotools' mAP@0.5 and mAP@[.5:.95] on canvases whose
   handwriting was never seen in training.

Words used below. *IoU* (intersection over union): the area two boxes share
over the area they cover together, 1 for the same box. *NMS* (non-maximum
suppression): keep the best-scored box, drop every box overlapping it by more
than an IoU threshold, repeat. *mAP@0.5*: the average over classes of the
area under the precision-recall curve, a detection counting as right when its
IoU with a true box is at least 0.5; *mAP@[.5:.95]* averages it over IoU
thresholds 0.5, 0.55, ..., 0.95 (COCO's main figure). *Canvases*: 112 x 112
images with one to four handwritten digits (scikit-learn's) pasted on a noisy
background, boxes known exactly. "The paper": Redmon et al. 2016, *You Only
Look Once*.

    python -m recipes.yolo                  # ~2.5 minutes on a 2-core CPU
    python -m recipes.yolo --quick          # < 2 minutes
    python -m recipes.yolo --overfit-subset 8 --epochs 60   # the sanity check
    python -m recipes.yolo --dataset yolo:shapes/data.yaml  # your own objects

Beyond the paper, two networks predict at every location of several
feature maps instead of one S x S grid. A box is four distances from its
location, a class a sigmoid of its own; which locations answer for which
object is decided from the predictions (task-aligned assignment: the best
ten of the locations inside the object, by class score times IoU to the
sixth), the class targets are those alignments, and the boxes regress with
1 - CIoU (`components.detection.TaskAlignedLoss`). Steps 2, 4 and 6 above
change accordingly; the rest of the recipe is the same.

- `--head dense`: the backbone's stride-8 and stride-16 maps, each side of
  a box one number (FCOS's design).
- `--head yolov8`: YOLOv8's network written on Keras (a CSP backbone of C2f
  blocks and SPPF, a PAN neck over strides 8, 16 and 32, a decoupled head),
  each side of a box a distribution over 16 distances trained with the
  distribution focal loss, and an exponential moving average of the weights
  validated and saved (`components.detection.yolov8_detector`).

On a user's data (`--dataset coco:...`, `yolo:...`, `tfds:...`) with no
`--head`, the recipe trains the detector that measured best within its
budget, `dense`, for `--time` minutes (default 10): the input side chosen
from the objects' sizes within what the budget can train, letterboxed, the
epochs that fit planned after each epoch. (In 10 minutes on 2 cores
`yolov8` ran half the dense head's epochs and scored lower; it is one flag
away.) Each is one `components.detection.Detector`: the recipe asks it for
targets, loss and decoding, whatever its kind.

The validation images are scored with pycocotools every `--val-every`
epochs (1: each); `--patience N` stops a run whose validation mAP@[.5:.95]
has not improved for N validations.

The run directory holds `config.json`, `metrics.json` (`map50`, `map`, the
precision and recall at the best F1, the loss terms on the test canvases,
AP by object size, timings, the best epoch), `ground_truth.json` and
`detections.json` (COCO format, scored with pycocotools: for image files,
each image's `file_name` and boxes in its own pixels), `model.keras` (the last epoch) and
`best.keras` (the best validation mAP@[.5:.95]; the test figures and
pictures are its own, as Ultralytics' are best.pt's), `history.csv` and
`results.csv` (per epoch: the loss and each of its terms, validation
precision, recall, mAP@0.5, mAP@[.5:.95], learning rate), `results.png`, `curves.png`, `targets.png`,
`gallery.png`, `val_predictions.png` (validation labels beside the
predictions), and for the test images `PR_curve.png`, `F1_curve.png` and
`confusion_matrix.png`; with `--mosaic`, `mosaic.png` (training mosaics and
the boxes they keep).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from components import callbacks, data, detection, serving
from components.checks import check_positive_int, invalid_value
from recipes.run import Run, detecting, flags, reports, training

# ---------------------------------------------------------------------------
# Setup: the flags (each a field; `--help` lists them)
# ---------------------------------------------------------------------------

_flag = flags.flag
QUICK = {"train_images": 600, "test_images": 100, "epochs": 6, "width": 8}
# Each head's default width. The dense head's 128 against 64, at 18 epochs
# on the drawn shapes: mAP@[.5:.95] 0.712 against 0.673 for 10% more time;
# on the digit canvases' defaults 0.787 against 0.627 (docs/recipes/yolo.md).
HEADS = {"v1": 256, "dense": 128, "yolov8": None}
# The detector's options that each kind's network builder and loss take
# from the flags (`Detector.create`): data, so the recipe never asks which
# kind it builds.
NETWORK_FLAGS = {
    "v1": ("backbone", "head_width", "grid_size", "boxes_per_cell"),
    "dense": ("backbone", "head_width"),
    "yolov8": ("size",),
}
# Whether a kind's input side may be chosen from the objects' sizes on a
# user's data (the v1 grid's must give a map that S divides).
SIZED_FROM_DATA = {"v1": False, "dense": True, "yolov8": True}
LOSS_FLAGS = {
    "v1": ("lambda_coord", "lambda_noobj"),
    "dense": ("class_weight", "box_weight"),
    "yolov8": ("class_weight", "box_weight", "distribution_weight"),
}
# --head auto on a user's data (coco:, yolo:, tfds:): the detector that
# scored best within the default budget. Rule, fixed before the runs: the
# highest mAP@[.5:.95] on the drawn shapes in 10 minutes of `--time` on 2
# cores. The dense head at its shapes command (224 px letterboxed, batch 4,
# Adam at 0.002) reached validation 0.918 / 0.779 in 13 epochs; yolov8 (n)
# 0.776 / 0.563 in 7 epochs at 288 px and batch 8, 0.789 / 0.577 in 6 at
# batch 4: at equal epochs the two were level, and the dense head ran twice
# the epochs (docs/recipes/yolo.md).
OWN_DATA = {
    "head": "dense",
    "time": 10.0,
    "resize": "letterbox",
    "batch_size": 4,
    "learning_rate": 0.002,
    "epochs": 300,  # a ceiling: --time plans the epochs that fit
}
CANVAS_SIZE = 112  # the digit canvases' side (and every kind's default elsewhere)


@dataclasses.dataclass
class Config(detecting.DetectionConfig):
    head: str = _flag(
        "auto",
        "auto: dense on a user's data (coco:, yolo:, tfds:) within --time "
        "minutes, v1 on the digit canvases; v1: the paper's S x S grid; dense: "
        "a box and class scores at every location of a VGG's stride-8 and "
        "stride-16 maps; yolov8: a CSP backbone, PAN neck and box sides as "
        "distributions (see 'Beyond the paper').",
    )
    size: str = _flag("n", "--head yolov8: the network's size, n or s.")
    time: float | None = _flag(
        None,
        "Minutes of training, validation included: after each epoch the "
        "epochs that fit are planned again and the learning rate is a warm-up "
        "and cosine over them (Ultralytics' time=); --epochs is the ceiling. "
        "Default: 10 with --head auto on a user's data; 0: off.",
    )
    image_size: int | None = _flag(
        None,
        "Side of the (square) input. Default: 112 on the canvases and for v1; "
        "on a user's data, the smallest multiple of 32 from 160 at which at "
        "most 10%% of the training objects are under 16 px, at most 224 for "
        "10 minutes of --time (as its square root beyond) or 640.",
    )
    averaging: bool = _flag(
        True,
        "--head yolov8: validate, keep and save an exponential moving average "
        "of the weights (YOLOv8's EMA).",
    )
    head_width: int | None = _flag(
        None, "Channels of the head's 3x3 layers (default: v1 256, dense 128)."
    )
    grid_size: int = _flag(7, "S: the grid is S x S.")
    boxes_per_cell: int = _flag(2, "B: boxes predicted per cell.")
    lambda_coord: float = _flag(5.0, "Weight of the box regression.")
    lambda_noobj: float = _flag(0.5, "Weight of the no-object confidence.")
    class_weight: float = _flag(
        0.5, "--head dense/yolov8: weight of the class term (YOLOv8's 0.5)."
    )
    box_weight: float = _flag(
        7.5, "--head dense/yolov8: weight of the 1 - CIoU term (YOLOv8's 7.5)."
    )
    distribution_weight: float = _flag(
        1.5, "--head yolov8: weight of the distribution focal loss (YOLOv8's 1.5)."
    )
    augment: bool = _flag(True, "Translation and scale jitter (boxes follow).")
    flip: bool = _flag(
        False,
        "With --augment, mirror half the training images left to right (only "
        "for classes a mirror keeps: shapes, not digits).",
    )
    mosaic: bool = _flag(
        False,
        "With --augment, train on mosaics: four images tiled at a random join "
        "point and scaled 0.5-1.5x (YOLOv4's; Ultralytics' default), every box "
        "kept while a tenth of it shows; mosaic.png shows some.",
    )
    close_mosaic: int | None = _flag(
        None,
        "With --mosaic, train the last N epochs on whole images (Ultralytics' "
        "close_mosaic; default 10, at most half the epochs).",
    )
    quick: bool = _flag(False, "A small, fast run (600 canvases, 6 epochs).")
    run_dir: str | None = _flag(None, "Run directory (default runs/yolo/<time>).")
    # 8 epochs of batch 16 reach the mAP of 20 of batch 64 in 0.40x the time
    # (docs/speed.md): four times the steps per epoch, at the same cost per
    # image on a CPU. 10 epochs of batch 64 reached 0.89.
    epochs: int = _flag(8, "Training epochs (with --time, the most).")
    batch_size: int = _flag(16, "Batch size.")

    def validate(self):
        if self.head == "auto":
            self._own_data_defaults()
        if self.head not in HEADS:
            raise ValueError(
                invalid_value("head", self.head, " or ".join(["auto", *HEADS]))
            )
        if self.head_width is None:
            self.head_width = HEADS[self.head]
        if self.time == 0:
            self.time = None
        if self.time is not None and not self.time > 0:
            raise ValueError(invalid_value("time", self.time, "minutes > 0, or 0: off"))
        if self.time is not None and self.lr_schedule != "cosine":
            raise ValueError(
                "--time schedules a warm-up and cosine over the epochs that fit: "
                f"drop --lr-schedule {self.lr_schedule} (or --time)."
            )
        if self.image_size is None and not self._sized_from_data():
            self.image_size = CANVAS_SIZE
        positive = ("grid_size", "boxes_per_cell")
        self.validate_detection(positive + (("head_width",) if self.head_width else ()))
        if self.size not in detection.YOLOV8_SIZES:
            raise ValueError(
                invalid_value("size", self.size, " or ".join(detection.YOLOV8_SIZES))
            )
        if self.flip and not self.augment:
            raise ValueError("--flip mirrors within --augment: drop --no-augment.")
        if self.mosaic and not self.augment:
            raise ValueError("--mosaic tiles within --augment: drop --no-augment.")
        if self.close_mosaic is None:
            self.close_mosaic = min(10, self.epochs // 2)
        check_positive_int("close_mosaic", self.close_mosaic, 0)
        if self.mosaic and self.close_mosaic >= self.epochs:
            raise ValueError(
                f"--mosaic with --close-mosaic {self.close_mosaic} and --epochs "
                f"{self.epochs} never tiles: lower --close-mosaic below --epochs."
            )

    def _own_data_defaults(self):
        """--head auto: the default detector on a user's data, v1 on canvases.
        A flag the user set keeps its value: these replace the defaults only."""
        if self.dataset in detecting.CANVASES:
            self.head = "v1"
            return
        defaults = {field.name: field.default for field in dataclasses.fields(self)}
        for name, value in OWN_DATA.items():
            if getattr(self, name) == defaults[name]:
                setattr(self, name, value)

    def _sized_from_data(self):
        """Whether `load_splits` picks the input size from the objects'."""
        return SIZED_FROM_DATA[self.head] and self.dataset not in detecting.CANVASES


# Kept under their old names: the tuning module and users import them from here.
parse_stages = detecting.parse_stages
ground_truth = detecting.ground_truth


def load_splits(config):
    """The splits, at `--image-size`; without one on a user's data, at the
    smallest input that keeps the objects large enough, within what the
    `--time` budget can train (`data.input_size_for`, `largest_input_for`),
    read from the training boxes first."""
    if config.image_size is None:
        probe = dataclasses.replace(
            config, image_size=data.LARGEST_INPUT, overfit_subset=0
        )
        splits = detecting.load_splits(probe)
        largest = data.largest_input_for(config.time)
        if splits.truth and "train" in splits.truth:
            boxes, labels = splits.truth["train"]
            wanted = data.input_size_for(boxes, labels, data.LARGEST_INPUT)
            config.image_size = min(wanted, largest)
        else:
            wanted = config.image_size = min(data.DEFAULT_INPUT, largest)
        kept = (
            f"at most {data.SMALL_SHARE:.0%} of the training objects under "
            f"{data.SMALL_SIDE:g} px"
        )
        if wanted > config.image_size:
            line = (
                f"input size: {config.image_size} px, the most {config.time:g} "
                f"minutes can train ({wanted} px would keep {kept}; --image-size "
                "to choose)"
            )
        else:
            line = (
                f"input size: {config.image_size} px, the smallest that keeps "
                f"{kept} (--image-size to choose)"
            )
        reports.report([line])
    return detecting.load_splits(config)


# ---------------------------------------------------------------------------
# 1. What YOLO predicts: S x S cells, each B boxes of 5 numbers and C classes
# ---------------------------------------------------------------------------


# The activations come after the network (the loss and the decoding apply
# them): a sigmoid turns x, y into the centre's offset within its cell, and
# the two size outputs into the square roots of the width and height as
# fractions of the image (the box's width is their square, in [0, 1]); a
# sigmoid gives the confidence, a softmax over the C outputs the class
# probabilities. In pixels, a box of the cell in row r, column c has its centre
# at ((c + x) / S * W, (r + y) / S * H) and its width sqrt_w ** 2 * W.


# ---------------------------------------------------------------------------
# 2. Targets: the cell holding an object's centre is responsible for it
# ---------------------------------------------------------------------------
# `Detector.targets` writes, in that cell, the centre relative to the cell
# (in [0, 1)), the width and height relative to the image, an objectness of 1
# and the one-hot class; every other cell is zero. So a target has depth
# 5 + C (one object per cell) where the output has 5B + C (B candidate boxes
# per cell; the loss picks which of them answers for the object). A cell has
# one class, so it holds one object: the paper states the limit, and of two
# centres in one cell this code keeps the larger object (its choice; the paper
# does not say). It runs inside the tf.data pipeline, after the augmentation
# has moved the boxes with the image. (The dense kinds' targets are the boxes
# themselves: their loss assigns them to locations from the predictions.)


def make_pipeline(config, splits, split, epoch_seeds=None, strategy=None, model=None):
    """Batches of `(images, targets)` of one split (`model.targets`; built
    from the flags when `model` is not given); training ones (with
    `epoch_seeds`) shuffled by epoch and augmented. A split of files streams:
    its index is shuffled, its images decoded in parallel (under a
    multi-worker `strategy`, only this worker's rows)."""
    model = model or build_model(config, splits)
    training = epoch_seeds is not None
    share = data.worker_share(strategy, config.batch_size) if training else None
    dataset = data.stream_examples(splits.stream(split), epoch_seeds, share=share)
    augment = training and config.augment and not config.overfit_subset
    if augment and config.mosaic:
        mosaics = config.epochs - config.close_mosaic
        dataset = data.mosaic(dataset, epoch_seeds, epochs=mosaics)
    whole = share is not None and share.whole_batches
    dataset = dataset.batch(config.batch_size, drop_remainder=whole)
    if augment:
        augment = data.build_box_augmentation(seed=config.seed, flip=config.flip)
        dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)

    def to_targets(batch):
        boxes = batch["bounding_boxes"]
        return batch["images"], model.targets(boxes["boxes"], boxes["labels"])

    dataset = dataset.map(to_targets, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(data.pipeline_options())


def plot_mosaics(config, splits, epoch_seeds, path, count=8):
    """With `--mosaic`, `mosaic.png`: the first epoch's first `count`
    mosaics, boxes drawn."""
    if not config.mosaic:
        return
    examples = data.stream_examples(splits.stream("train"), epoch_seeds)
    mosaics = data.mosaic(examples, epoch_seeds, epochs=1).take(count)
    detecting.plot_examples(
        mosaics.as_numpy_iterator(),
        splits.class_names,
        path,
        "training mosaics (--mosaic) with the boxes kept",
    )


def report_head(model, splits, run):
    """What the network predicts, in a line; for a grid, `targets.png`."""
    lines = [model.describe()]
    if model.grid is not None:
        objects = plot_targets(model, splits, run.file("targets.png"))
        lines.append(
            f"targets.png: one canvas, {objects} object{'s' * (objects != 1)} and "
            "the cells responsible for them"
        )
    reports.report(lines)


def plot_targets(model, splits, path):
    """One training canvas, its S x S grid, the responsible cells and the
    boxes read back from its target (they must match the labelled ones)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    example = next(iter(splits.train.take(1).as_numpy_iterator()))
    image, boxes = example["images"], example["bounding_boxes"]
    target = model.targets(boxes["boxes"][None], boxes["labels"][None])[0]
    grid_size = model.grid[0]
    decoded, classes = detection.decode_yolo_targets(target.numpy(), image.shape)
    height, width = image.shape[:2]
    cell_h, cell_w = height / grid_size, width / grid_size
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
    for k in range(1, grid_size):
        ax.axhline(k * cell_h, color="white", lw=0.5, alpha=0.6)
        ax.axvline(k * cell_w, color="white", lw=0.5, alpha=0.6)
    for row, col in zip(*np.nonzero(target.numpy()[..., 4] > 0.5)):
        ax.add_patch(
            Rectangle(
                (col * cell_w, row * cell_h), cell_w, cell_h, color="yellow", alpha=0.3
            )
        )
    for (x0, y0, x1, y1), label in zip(decoded, classes):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime"))
        ax.plot((x0 + x1) / 2, (y0 + y1) / 2, "r+")
        ax.text(x0, y0 - 1, splits.class_names[label], color="lime", fontsize=8)
    ax.set_title(
        f"{grid_size}x{grid_size} grid: responsible cells (yellow),\n"
        "centres (+) and boxes decoded back from the target"
    )
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return int(len(classes))


# ---------------------------------------------------------------------------
# 3. The network: a backbone, then a grid head of depth 5B + C
# ---------------------------------------------------------------------------
# Any builder of `components.models` gives the feature map (its classifier
# dropped); a map larger than S x S is max-pooled down to it; two 3x3
# conv-bn-ReLU layers and a 1x1 convolution give the raw S x S x (5B + C)
# outputs. Sigmoids and the softmax are applied by the loss and the
# decoding, so the network regresses unconstrained numbers. The network and
# what trains and decodes it are one object, `detection.Detector`.


def build_model(config, splits):
    """The `detection.Detector` of `--head`, with the flags its kind takes."""
    options = {name: getattr(config, name) for name in NETWORK_FLAGS[config.head]}
    if "backbone" in options:
        options.update(detecting.backbone_options(config))
    return detection.Detector.create(
        config.head,
        splits.image_shape,
        splits.num_classes,
        loss_options={name: getattr(config, name) for name in LOSS_FLAGS[config.head]},
        score_threshold=config.score_threshold,
        iou_threshold=config.iou_threshold,
        **options,
    )


# ---------------------------------------------------------------------------
# 4. The loss, term by term (`YoloLoss.terms`)
# ---------------------------------------------------------------------------
# All five terms are sum-squared errors, after the activations above. Of the
# responsible cell's B predictors, the one whose box has the highest IoU with
# the object answers for it: its centre and the square roots of its width and
# height regress the object's (weight lambda_coord = 5: the few object cells
# would otherwise be drowned by the many empty ones); its confidence regresses
# the IoU it reaches (weight 1). Every other predictor's confidence is pushed
# to 0 (weight lambda_noobj = 0.5). Cells with an object also regress the
# one-hot class with their softmax probabilities (weight 1). Square roots make
# an error on a small box cost more than the same error on a large one.


def compile_detector(config, model, splits):
    """The detector's own loss and the flags' optimizer and schedule (the
    search compiles its trials here too)."""
    steps = -(-splits.sizes["train"] // config.batch_size)
    return training.compile_model(
        config, model, steps, model.make_loss(), metrics=(), scheduled=not config.time
    )


def budget_callbacks(config, model, splits):
    """`--time`: the plan of epochs and its learning rate (`TimeBudget`);
    with `--averaging`, for a network with box distributions, the averaged
    weights (`WeightAveraging`, sized to the steps planned)."""
    steps = -(-splits.sizes["train"] // config.batch_size)
    budget = None
    if config.time:
        budget = callbacks.TimeBudget(
            config.time * 60.0,
            config.learning_rate,
            steps,
            config.epochs,
            warmup_epochs=config.warmup_epochs,
        )
    before = []
    if config.averaging and model.bins:
        total = steps * config.epochs
        if budget is not None:
            total = lambda: steps * budget.planned_epochs  # noqa: E731
        before.append(callbacks.WeightAveraging(total_steps=total))
    return before, [budget] if budget else []


def loss_terms(config, model, splits):
    """Each term's mean per test canvas: which errors the detector still makes."""
    totals, count = {}, 0
    for images, targets in make_pipeline(config, splits, "test", model=model):
        terms = model.loss_terms(targets, model(images, training=False))
        for name, values in terms.items():
            totals[name] = totals.get(name, 0.0) + float(np.sum(values))
        count += int(images.shape[0])
    return {name: round(total / count, 5) for name, total in totals.items()}


# ---------------------------------------------------------------------------
# 6. Decoding: class-specific scores, a threshold, non-maximum suppression
# ---------------------------------------------------------------------------
# Each box's score for a class is P(class | object) * confidence; boxes under
# --score-threshold go, and NMS drops, class by class, a box that overlaps a
# better one by more than --iou-threshold (`Detector.decode`). The saved
# `model.keras` ends in the same decoding (`Detector.inference_model`):
# loaded, its `predict` on images returns `boxes` (xyxy pixels), `labels`,
# `scores` and `num_detections`, and `model.export()` serves the same.


def detect(model, test):
    """Raw outputs, then detections; with images/s and post-processing ms/image.

    `test` is an `EvaluationSplit` (its images read as they are predicted) or
    an array of images."""
    raw, predict_seconds = detecting.timed_predict(model, test)
    count = len(raw)
    detections, post_seconds = detecting.timed(model.decode, raw)
    timing = {
        "inference_images_per_second": round(count / predict_seconds, 1),
        "postprocess_ms_per_image": round(1000 * post_seconds / count, 3),
    }
    return detections, timing


# ---------------------------------------------------------------------------
# 5 and 7. Train, then score with pycocotools
# ---------------------------------------------------------------------------


def main(argv=None):
    """Trains and scores the detector; returns the metrics dict."""
    run = Run.start(Config, argv, "yolo", __doc__, quick=QUICK)
    splits, model = run.prepare(load_splits, build_model)
    config = run.open().config
    detecting.report_data(run, splits)
    report_head(model, splits, run)

    epoch_seeds = data.EpochSeeds(config.seed)
    plot_mosaics(config, splits, epoch_seeds, run.file("mosaic.png"))
    with run.scope():
        compile_detector(config, model, splits)
    # The saved model decodes too: images in, boxes, labels and scores out.
    inference = model.inference_model()
    # Validation mAP every --val-every epochs; the best kept as best.keras.
    validation = detecting.validation(
        run,
        splits,
        lambda network, split: model.decode(model.predict_raw(split.images, verbose=0)),
        serving.detector_serving_model(
            inference, splits.class_names, resize=config.resize
        ),
    )
    before, after = budget_callbacks(config, model, splits)
    run.fit(
        model,
        make_pipeline(config, splits, "train", epoch_seeds, run.strategy, model),
        make_pipeline(config, splits, "validation", model=model),
        callbacks=[epoch_seeds, *before, validation.callback, *after],
    )

    # The test images are scored, and the pictures drawn, for best.keras.
    test = detecting.evaluation_split(splits, "test", config.batch_size)
    with detecting.best_weights(run, inference, validation) as scored:
        detections, timing = detect(model, test)
        terms = loss_terms(config, model, splits)
        test_loss = model.evaluate(
            make_pipeline(config, splits, "test", model=model),
            verbose=0,
            return_dict=True,  # the loss terms are metrics of their own
        )["loss"]
    reports.report(
        [
            "loss terms per test canvas: "
            + ", ".join(f"{k} {v:.3g}" for k, v in terms.items())
        ]
    )
    timing.update(loss_terms=terms, test_loss=round(float(test_loss), 5))
    shown = {"extra": timing, "curves": ("loss",), "title": "YOLO", "scored": scored}
    return detecting.finish(
        run, splits, inference, test, detections, validation=validation, **shown
    )


if __name__ == "__main__":
    main()
