"""Region-based detectors: R-CNN, Fast R-CNN and Faster R-CNN on the same canvases.

The notes' object-detection section, taught in the order the methods grew,
each step with its code right below it:

1. **Proposals.** R-CNN and Fast R-CNN start from selective search: a few
   hundred regions per image that may hold an object of any class, made by
   over-segmenting the image and merging neighbouring segments by colour,
   texture and size (`regions.png` shows one canvas's). Faster R-CNN replaces
   selective search by a network that scores and moves **anchors**: boxes of a
   few sizes (`--anchor-sizes`, the side of a square of the same area) and
   height / width ratios centred on every cell of the feature map. An anchor is
   an object's when their IoU is at least 0.7 (and each object's best anchor
   always is), background under 0.3, and ignored in between
   (`regions.png` shows the matched ones).
2. **Features per region.** R-CNN warps every region to a fixed size and runs
   the CNN on each (slow: one pass per region). Fast R-CNN runs the CNN once per
   image and max-pools each region's part of the shared map onto a fixed grid:
   **RoI pooling** (the region's pixel corners divided by the map's stride and
   rounded, the window cut into `--pool-size` x `--pool-size` bins, the
   maximum of each).
3. **The heads.** Two dense layers, then C + 1 class scores (background
   included) and four box **deltas** per class: how to move the region onto
   the object, `((x - xa) / wa, (y - ya) / ha, log(w / wa), log(h / ha))` for
   a region (or anchor) centred at (xa, ya) of size wa x ha and an object at
   (x, y) of size w x h (scaled by `BOX_VARIANCE`, Keras's "center_xywh"
   encoding). Faster R-CNN adds the **region proposal network** (RPN): a 3x3
   convolution on the shared map, then two 1x1 convolutions giving at every
   location, for each of its A anchors, an objectness logit and four deltas;
   the 300 best-scored moved anchors go through NMS (IoU 0.7; the vectorized
   "fast NMS" of YOLACT, which runs inside the model and drops a little more
   than the greedy loop) and the best `--proposals` are the regions.
4. **The losses**, each logged on its own (`history.csv`, `curves.png`),
   summed with weight 1 and trained jointly: the detector's classification
   (cross-entropy over the C + 1 classes; a region is an object's at IoU >=
   0.5) and box regression (*smooth L1*: squared under 1, linear beyond, on the
   true class's deltas of object regions); with an RPN (Faster R-CNN: four
   losses, two for the others) its objectness (binary cross-entropy, object
   and background anchors weighted half each, in place of the paper's sample
   of 256) and box regression (smooth L1 on object anchors). The proposals are
   constants to the detector's losses: no gradient flows into their corners.
   In training the head also sees each true box as a region (the reference
   implementation's proposal target layer does the same): objects to learn
   from before the RPN proposes well (mAP@0.5 0.990 against 0.986 without,
   8 epochs, seed 0).
5. **Decoding.** Each region's deltas move it, per class; then a score
   threshold and non-maximum suppression class by class (NMS: keep the best
   box, drop those overlapping it by more than `--iou-threshold`, repeat).
6. **Scoring.** pycocotools on the same held-out canvases as the YOLO recipe
   (mAP@0.5 and mAP@[.5:.95], images per second including the proposals).

    python -m recipes.rcnn                    # Faster R-CNN, ~3 min on 2 CPU cores
    python -m recipes.rcnn --variant fast     # Fast R-CNN (selective search)
    python -m recipes.rcnn --variant rcnn     # R-CNN
    python -m recipes.rcnn --variant rcnn --quick
    python -m recipes.rcnn --overfit-subset 8 --epochs 100 --learning-rate 3e-3

The run directory holds what the YOLO recipe's does: `config.json`,
`metrics.json` (`map50`, `map`, AP by object size, timings), `ground_truth.json` and
`detections.json` (COCO format), `model.keras`, `history.csv` (the four
losses), `curves.png`, `regions.png` and `gallery.png`.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import tensorflow as tf

from components import data, detection, serving
from components.checks import check_rate, invalid_value
from components.detection import proposals as region_proposals
from recipes.run import Run, detecting, flags, reports, training

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

_flag = flags.flag
VARIANTS = ("rcnn", "fast", "faster")
QUICK = {
    "train_images": 300,
    "validation_images": 50,
    "test_images": 60,
    "epochs": 3,
    "width": 8,
    "head_width": 64,
    "regions": 100,
}


@dataclasses.dataclass
class Config(detecting.DetectionConfig):
    variant: str = _flag("faster", "Detector: rcnn, fast or faster.")
    head_width: int = _flag(256, "Units of the head's two dense layers.")
    head_dropout: float = _flag(0.0, "Dropout after each of them.")
    pool_size: int = _flag(4, "RoI pooling grid (fast, faster).")
    crop_size: int = _flag(32, "Side of R-CNN's warped regions (rcnn).")
    regions: int = _flag(300, "Selective-search regions per image (rcnn, fast).")
    train_regions: int = _flag(32, "Regions sampled per training image (rcnn, fast).")
    foreground_fraction: float = _flag(0.25, "Share of objects among them.")
    anchor_sizes: str = _flag("16,32,48", "Anchor sides in pixels (faster).")
    aspect_ratios: str = _flag("0.5,1,2", "Anchor height/width ratios (faster).")
    # 16 proposals (was 32) and the true boxes among the training regions
    # (`RegionDetector`) reach in 7 epochs the mAP that 16 epochs reached
    # before (docs/speed.md); 64 proposals scored lower.
    proposals: int = _flag(16, "RPN proposals per image after NMS (faster).")
    rpn_width: int = _flag(128, "Channels of the RPN's 3x3 layer (faster).")
    augment: bool = _flag(True, "Translation and scale jitter (faster only).")
    batch_size: int = _flag(8, "Batch size (images).")
    epochs: int = _flag(7, "Training epochs.")
    iou_threshold: float = _flag(
        0.3, "IoU above which NMS drops a box (Fast/Faster R-CNN's test value)."
    )
    quick: bool = _flag(False, "A small, fast run (300 canvases, 3 epochs).")
    run_dir: str | None = _flag(None, "Run directory (default runs/rcnn/<time>).")

    def validate(self):
        self.validate_detection(
            (
                "head_width",
                "pool_size",
                "crop_size",
                "regions",
                "train_regions",
                "proposals",
                "rpn_width",
            )
        )
        if self.variant not in VARIANTS:
            raise ValueError(
                invalid_value("variant", self.variant, f"one of {', '.join(VARIANTS)}")
            )
        check_rate("head_dropout", self.head_dropout)
        if not 0.0 <= self.foreground_fraction <= 1.0:
            raise ValueError(
                invalid_value(
                    "foreground_fraction", self.foreground_fraction, "a float in [0, 1]"
                )
            )
        parse_numbers("anchor_sizes", self.anchor_sizes)
        parse_numbers("aspect_ratios", self.aspect_ratios)


def parse_numbers(name, text):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) <= 0:
        raise ValueError(
            invalid_value(name, text, "positive numbers separated by commas")
        )
    return values


TITLES = {"rcnn": "R-CNN", "fast": "Fast R-CNN", "faster": "Faster R-CNN"}


# ---------------------------------------------------------------------------
# 1. Proposals: selective search (R-CNN, Fast R-CNN) or anchors (Faster R-CNN)
# ---------------------------------------------------------------------------
# Selective search runs outside the network, on the CPU, before training and
# at test time (its cost is part of the images per second reported).
# Training samples `--train-regions` of them per image, a quarter objects
# (IoU >= 0.5 with a true box), the rest background, as Fast R-CNN does.


def propose(config, images):
    """Selective-search regions of `images`, and the milliseconds per image."""
    start = time.perf_counter()
    regions, _ = region_proposals.propose_regions(
        images, config.regions, seed=config.seed, verbose=min(config.verbose, 1)
    )
    return regions, 1000 * (time.perf_counter() - start) / max(len(images), 1)


def make_pipeline(config, splits, split, regions=None, epoch_seeds=None, share=None):
    """Batches of `(inputs, {"boxes", "labels"})`; with a `data.WorkerShare`
    (several processes), Faster R-CNN's decode only this process's rows.

    Faster R-CNN's inputs are the images (augmented when training); those of
    R-CNN and Fast R-CNN are `{"images", "rois"}`, the rois sampled from the
    image's `regions` (`sample_regions`) with a seed of the epoch and the
    position, so a resumed run samples what an uninterrupted one does.
    """
    training = epoch_seeds is not None
    stream = splits.stream(split)
    if regions is not None:
        # Selective search ran on the decoded images: their regions travel
        # with them, in memory (R-CNN and Fast R-CNN only).
        def attach(element, image_regions):
            return {**element, "regions": image_regions}

        stream = data.Stream(
            tf.data.Dataset.zip(
                data.stream_examples(stream),
                tf.data.Dataset.from_tensor_slices(regions),
            ).map(attach)
        )

    def sample(element, seed):
        element = dict(element)
        element["regions"] = region_proposals.sample_regions(
            element.pop("regions"),
            element["bounding_boxes"]["boxes"],
            config.train_regions,
            config.foreground_fraction,
            seed=seed,
        )
        return element

    if training:
        dataset = data.stream_examples(
            stream,
            epoch_seeds,
            sample if regions is not None else None,
            # The regions variants decoded every image for selective search.
            share=share if regions is None else None,
        )
    else:
        dataset = data.stream_examples(stream)
    if not training and regions is not None:
        # Validation: the same fixed sample every epoch.
        def sample_fixed(index, element):
            return sample(element, tf.stack([tf.constant(-1, tf.int64), index]))

        dataset = dataset.enumerate().map(sample_fixed)
    whole = share is not None and share.whole_batches  # several processes
    dataset = dataset.batch(config.batch_size, drop_remainder=whole)
    if training and config.augment and not config.overfit_subset and regions is None:
        dataset = dataset.map(
            data.build_box_augmentation(seed=config.seed),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    def inputs_and_targets(batch):
        targets = {
            "boxes": batch["bounding_boxes"]["boxes"],
            "labels": batch["bounding_boxes"]["labels"],
        }
        if regions is None:
            return batch["images"], targets
        return {"images": batch["images"], "rois": batch["regions"]}, targets

    dataset = dataset.map(inputs_and_targets, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(data.pipeline_options())


def plot_regions(config, splits, model, path):
    """One training canvas with its true boxes (green) and what the detector
    starts from (red): selective-search regions, or the anchors matched to
    an object."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    example = next(iter(splits.train.take(1).as_numpy_iterator()))
    image, truth = example["images"], example["bounding_boxes"]["boxes"]
    if config.variant == "faster":
        anchors = model.network.get_layer("proposals").anchors
        matches, _, _ = detection.match_boxes(anchors, truth[None])
        shown = np.asarray(anchors)[np.asarray(matches)[0] == 1]
        title = f"{len(shown)} anchors matched to the objects (IoU >= 0.7 or best)"
    else:
        shown = propose(config, image[None])[0][0][:40]
        shown = shown[shown.max(axis=-1) >= 0]  # rows of -1 are padding
        title = f"the first {len(shown)} of {config.regions} selective-search regions"
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
    for boxes, style in (
        (shown, dict(color="red", lw=0.6)),
        (truth, dict(color="lime")),
    ):
        for x0, y0, x1, y1 in boxes:
            if x1 > x0:
                ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, **style))
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return title


# ---------------------------------------------------------------------------
# 2 and 3. Features per region and the heads: one network per variant
# ---------------------------------------------------------------------------
# R-CNN: `RegionWarp` crops and resizes each region, the backbone runs on each
# crop. Fast R-CNN: the backbone runs once, `RoIPooling` max-pools each
# region's window of the shared map onto a `--pool-size` grid. Faster R-CNN:
# the same, with `rpn_head` and `ProposalSelection` (anchors moved by the
# predicted deltas, best objectness, NMS) producing the regions inside the
# network. `RegionDetector` wraps any of them with the losses of step 4.


# Each variant: its builder in `components.detection` and the flags it takes.
VARIANT_BUILDERS = {
    "rcnn": ("rcnn", ("crop_size",)),
    "fast": ("fast_rcnn", ("pool_size",)),
    "faster": (
        "faster_rcnn",
        ("anchor_sizes", "aspect_ratios", "proposals", "pool_size", "rpn_width"),
    ),
}
NUMBER_LISTS = ("anchor_sizes", "aspect_ratios")  # comma-separated flags


def build_detector(config, splits):
    """The variant's network inside `RegionDetector` (its losses, step 4)."""
    return detection.RegionDetector(build_network(config, splits))


def build_network(config, splits):
    name, flags = VARIANT_BUILDERS[config.variant]
    options = {
        flag: parse_numbers(flag, getattr(config, flag))
        if flag in NUMBER_LISTS
        else getattr(config, flag)
        for flag in flags
    }
    return detection.build(
        name,
        splits.image_shape,
        splits.num_classes,
        backbone=config.backbone,
        head_width=config.head_width,
        head_dropout=config.head_dropout,
        **options,
        **detecting.backbone_options(config),
    )


# ---------------------------------------------------------------------------
# 4. The four losses (`RegionDetector.train_step`)
# ---------------------------------------------------------------------------
# Targets are computed inside the training step from the true boxes: anchors
# (Faster R-CNN) and regions matched by IoU, box deltas encoded relative to
# them (`encode_deltas`). RPN objectness: binary cross-entropy over a sample
# of anchors; RPN boxes: smooth L1 on the positive anchors; detector classes:
# cross-entropy over the C + 1 classes; detector boxes: smooth L1 on the
# deltas of the true class, positives only. Each is logged under its name.


# ---------------------------------------------------------------------------
# 5 and 6. Decoding and scoring
# ---------------------------------------------------------------------------
# `decode_region_detections` moves each region by its class's deltas, scores
# it by the softmax over the classes (background dropped), thresholds and
# runs NMS class by class; `detecting.finish` scores with pycocotools. The
# saved `model.keras` ends in the same decoding (`RegionDecoding`): Faster
# R-CNN's takes images, R-CNN's and Fast R-CNN's `{"images", "rois"}` (the
# selective-search regions), and `predict` returns `boxes`, `labels`, `scores`
# and `num_detections`.


def detect(config, model, test, image_shape, regions=None):
    """Detections on the test images, timing each stage: proposals (selective
    search, rcnn/fast), the network, post-processing. `test` is an
    `EvaluationSplit` (Faster R-CNN reads its images as it predicts them) or
    an array of images; `regions` the images' proposals when already made."""
    proposal_ms = 0.0
    inputs = test
    count = test.count if isinstance(test, detecting.EvaluationSplit) else len(test)
    if config.variant != "faster":
        # Selective search runs on NumPy images.
        images = test.arrays() if isinstance(test, detecting.EvaluationSplit) else test
        if regions is None:
            regions, proposal_ms = propose(config, images)
        inputs = {"images": images, "rois": regions}
    batch = 64 if config.variant != "rcnn" else 8

    outputs, network_seconds = detecting.timed_predict(model, inputs, batch)

    @tf.function(reduce_retracing=True)
    def decode(part):
        return detection.decode_region_detections(
            part, image_shape, config.score_threshold, config.iou_threshold
        )

    keep = ("rois", "class_logits", "box_deltas")
    detections, post_seconds = detecting.decode_in_batches(
        decode, {k: outputs[k] for k in keep}
    )
    per_image = (proposal_ms / 1000) + (network_seconds + post_seconds) / count
    timing = {
        "inference_images_per_second": round(1.0 / per_image, 1),
        "proposal_ms_per_image": round(proposal_ms, 2),
        "network_images_per_second": round(count / network_seconds, 1),
        "postprocess_ms_per_image": round(1000 * post_seconds / count, 3),
    }
    return detections, timing


def main(argv=None):
    """Trains and scores the chosen detector; returns the metrics dict."""
    run = Run.start(Config, argv, "rcnn", __doc__, quick=QUICK)
    splits, model = run.prepare(detecting.load_splits, build_detector)
    config = run.open().config
    detecting.report_data(run, splits)
    shown = plot_regions(config, splits, model, run.file("regions.png"))
    reports.report(
        [f"regions.png: one canvas, {shown} {TITLES[config.variant]} regions"]
    )

    # Data: R-CNN and Fast R-CNN train on selective-search regions.
    regions = {"train": None, "validation": None}
    if config.variant != "faster":
        for name in regions:
            images = detecting.ground_truth(splits, name)[0]
            regions[name] = propose(config, images)[0]
    epoch_seeds = data.EpochSeeds(config.seed)
    share = data.worker_share(run.strategy, config.batch_size)
    train = make_pipeline(
        config, splits, "train", regions["train"], epoch_seeds, share=share
    )
    validation = make_pipeline(config, splits, "validation", regions["validation"])

    # Train, scoring the validation images every --val-every epochs (their
    # proposals made once); the best kept as best.keras.
    steps = -(-splits.sizes["train"] // config.batch_size)
    with run.scope():
        training.compile_model(config, model, steps, None, metrics=())
    # The saved model decodes too: boxes, labels and scores out.
    inference = detection.region_inference_model(
        model.network, config.score_threshold, config.iou_threshold
    )
    scoring = detecting.validation(
        run,
        splits,
        lambda network, split: detect(
            config, network, split, splits.image_shape, regions["validation"]
        )[0],
        serving.detector_serving_model(
            inference, splits.class_names, resize=config.resize
        ),
    )
    run.fit(model, train, validation, callbacks=[epoch_seeds, scoring.callback])
    # Evaluate.
    batch = 64 if config.variant != "rcnn" else 8
    test = detecting.evaluation_split(splits, "test", batch)
    # The test images are scored, and the pictures drawn, for best.keras.
    with detecting.best_weights(run, inference, scoring) as scored:
        detections, timing = detect(config, model, test, splits.image_shape)
    shown = {
        "extra": {"variant": config.variant, **timing},
        "curves": [tracker.name for tracker in model.loss_trackers],  # the 4 losses
        "title": TITLES[config.variant],
        "scored": scored,
    }
    return detecting.finish(
        run, splits, inference, test, detections, validation=scoring, **shown
    )


if __name__ == "__main__":
    main()
