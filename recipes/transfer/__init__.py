"""Transfer learning in the notes' four regimes, measured on real runs.

The notes' "Transfer Learning" table crosses the size of the new dataset (small
or large) with its similarity to the pretraining data (similar or very
different) and recommends a strategy for each cell. This recipe runs, in every
cell and on the same split, all four strategies:

- `linear_top`: a linear classifier (softmax) on the top CNN codes;
- `linear_early`: a linear SVM on codes from an earlier layer;
- `fine_tune`: the `linear_top` head, then the whole network fine-tuned with a
  10x lower learning rate, batch norm kept in inference mode;
- `scratch`: the same architecture trained from a random initialization;

and prints a 2 x 2 table of test accuracies, the winner and the notes' pick.

Offline by default, the pretrained network is this project's VGG trained on
digits 0-4 (cached under `--source-cache`, default `<run-dir>/source`); the
similar target is digits 5-9 and the very different one synthetic textures
(stripes, checkerboards, blobs). With internet, `--source keras:MobileNetV2`
(any of `components.transfer.APPLICATIONS`) uses ImageNet weights and
`--similar tfds:NAME` / `--different tfds:NAME` real datasets.

    python -m recipes.transfer                 # ~5 minutes on a 2-core CPU
    python -m recipes.transfer --quick         # < 2 minutes
    python -m recipes.transfer --source keras:MobileNetV2 --image-size 96 \\
        --different tfds:dtd --similar tfds:cifar10

The run directory holds `config.json`, `metrics.json` (key `regimes`),
`regimes.png`, the source model and its history.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time

import keras
import numpy as np

from components import transfer
from recipes.run import Run, reports
from recipes.transfer.config import QUICK, Config
from recipes.transfer.networks import (
    check_early_layer,
    fit_network,
    load_pretrained,
    prepare_source,
    scratch_model,
)
from recipes.transfer.targets import load_target, sample

# ---------------------------------------------------------------------------
# Train: the four strategies
# ---------------------------------------------------------------------------


def _accuracy(model, images, labels):
    return float(
        np.mean(model.predict(images, batch_size=256, verbose=0).argmax(-1) == labels)
    )


def run_strategies(config, source_path, train, test, num_classes, seed):
    """Test accuracy of every strategy on one training sample."""
    images, labels = train
    results = {}

    preprocessing, network, top = load_pretrained(config, source_path)
    inputs = keras.Input(images.shape[1:], name="images")
    top_codes = keras.Model(inputs, top(preprocessing(inputs)), name="top_codes")
    head = transfer.fit_linear_classifier(
        top_codes.predict(images, verbose=0),
        labels,
        num_classes,
        epochs=config.head_epochs,
        seed=seed,
    )
    results["linear_top"] = _accuracy(
        head, top_codes.predict(test[0], verbose=0), test[1]
    )

    layer = config.early_layer or transfer.default_early_layer(network)
    early = transfer.feature_extractor(network, layer, config.grid)
    early_codes = keras.Model(inputs, early(preprocessing(inputs)), name="early_codes")
    svm = transfer.fit_linear_classifier(
        early_codes.predict(images, verbose=0),
        labels,
        num_classes,
        loss="svm",
        epochs=config.head_epochs,
        seed=seed,
    )
    results["linear_early"] = _accuracy(
        svm, early_codes.predict(test[0], verbose=0), test[1]
    )

    # Fine-tuning starts from the trained linear head, as the notes advise.
    transfer.unfreeze(top, config.fine_tune_from)
    preprocessing.trainable = False
    tuned = keras.Model(inputs, head(top_codes(inputs)), name="fine_tuned")
    rate = config.learning_rate * config.fine_tune_factor
    fit_network(config, tuned, images, labels, config.fine_tune_epochs, rate, seed)
    results["fine_tune"] = _accuracy(tuned, *test)

    scratch = scratch_model(config, images, num_classes)
    fit_network(
        config, scratch, images, labels, config.epochs, config.learning_rate, seed
    )
    results["scratch"] = _accuracy(scratch, *test)
    return results, layer


# ---------------------------------------------------------------------------
# Evaluate and report
# ---------------------------------------------------------------------------


def run_regime(config, source_path, target, similar, per_class, done):
    """Every strategy of one regime, `--repeats` times; `done` holds finished
    repeats (read from and written to `--backup-dir`), which are not rerun."""
    regime = transfer.recommend_regime(per_class, similar, config.small_below)
    runs = []
    for repeat in range(config.repeats):
        seed = config.seed + repeat
        train = sample(target, per_class, seed)
        key = f"{regime.name}/{repeat}"
        if key in done:
            accuracies, layer = done[key]["accuracies"], done[key]["early_layer"]
            runs.append(accuracies)
            reports.report([f"{key}: restored from the backup"])
            continue
        start = time.perf_counter()
        accuracies, layer = run_strategies(
            config, source_path, train, target.test, target.num_classes, seed
        )
        done[key] = {"accuracies": accuracies, "early_layer": layer}
        done.save()
        runs.append(accuracies)
        reports.report(
            [
                f"{regime.name} (repeat {repeat + 1}/{config.repeats}, "
                f"{time.perf_counter() - start:.0f} s): "
                + ", ".join(f"{k} {v:.3f}" for k, v in accuracies.items())
            ]
        )
    mean = {k: float(np.mean([r[k] for r in runs])) for k in transfer.STRATEGIES}
    winner = max(mean, key=mean.get)
    return {
        "regime": regime.name,
        "target": target.name,
        "examples_per_class": int(np.bincount(train[1]).min()),
        "train_examples": int(len(train[1])),
        "test_examples": int(len(target.test[1])),
        "accuracies": mean,
        "runs": runs,
        "winner": winner,
        "recommended": regime.strategy,
        "recommendation_won": bool(mean[regime.strategy] >= mean[winner]),
        "early_layer": layer,
        "reason": regime.reason,
    }


class Finished(dict):
    """Results of finished (regime, repeat) runs, kept in `--backup-dir`.

    The recipe's unit of work is one repeat of one regime (four short fits);
    a killed run started again with the same command skips the finished ones
    and reruns the one it was in. Removed once the run completes, as Keras's
    `BackupAndRestore` removes its own.
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.path = os.path.join(backup_dir, "results.json") if backup_dir else None
        if self.path and os.path.exists(self.path):
            with open(self.path) as f:
                self.update(json.load(f))

    def save(self):
        if self.path:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            reports.atomic_write_json(self.path, dict(self))

    def remove(self):
        if self.path and os.path.exists(os.path.dirname(self.path)):
            shutil.rmtree(os.path.dirname(self.path))


def table(regimes):
    """The 2 x 2 table as text: rows small / large, columns similar / different."""
    cells = {r["regime"]: r for r in regimes}
    width = 34
    lines = [f"{'':<8}" + "".join(f"{c:<{width}}" for c in ("similar", "different"))]
    for size in ("small", "large"):
        for row, strategy in enumerate(transfer.STRATEGIES):
            line = f"{size if row == 0 else '':<8}"
            for similarity in ("similar", "different"):
                cell = cells[f"{size}_{similarity}"]
                mark = ("*" if strategy == cell["winner"] else " ") + (
                    " (notes)" if strategy == cell["recommended"] else ""
                )
                text = f"{strategy:<13}{cell['accuracies'][strategy]:.3f}{mark}"
                line += f"{text:<{width}}"
            lines.append(line)
        lines.append("")
    lines.append("* best test accuracy in the cell; (notes) the notes' recommendation")
    return lines


def plot(regimes, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharey=True)
    for panel, regime in zip(axes.flat, regimes):
        values = [regime["accuracies"][s] for s in transfer.STRATEGIES]
        colors = [
            "tab:green" if s == regime["recommended"] else "tab:gray"
            for s in transfer.STRATEGIES
        ]
        bars = panel.bar(transfer.STRATEGIES, values, color=colors)
        panel.bar_label(bars, fmt="%.3f", fontsize="small")
        panel.set_title(
            f"{regime['regime'].replace('_', ', ')}: {regime['target']}, "
            f"{regime['examples_per_class']}/class"
        )
        panel.set_ylim(0, 1.05)
        panel.tick_params(axis="x", labelsize="small")
    axes[0, 0].set_ylabel("test accuracy")
    axes[1, 0].set_ylabel("test accuracy")
    fig.suptitle("Transfer learning: the notes' pick in green")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    """Runs the four regimes and returns the metrics dict (key `regimes`)."""
    run = Run.start(Config, argv, "transfer", __doc__, quick=QUICK)
    config = run.config
    with run.usage_errors():
        if config.strategy in ("multiworker", "data-parallel"):
            # Measured (benchmarks.scaling, 2 cores): two processes trained
            # at 0.2-0.5x the images/s of one, and these fits last seconds.
            raise ValueError(
                f"--strategy {config.strategy} is not supported by "
                "recipes.transfer (default, mirrored, auto are): it runs many "
                "fits of seconds each on a few hundred images, where more "
                "processes cost more in coordination than they share (see "
                "python -m benchmarks.scaling)."
            )
        check_early_layer(config)
        targets = {
            True: load_target(config, config.similar),
            False: load_target(config, config.different),
        }
        for target in targets.values():
            sample(target, config.large_per_class, config.seed)
    run.open()
    start = time.perf_counter()
    done = Finished(config.backup_dir)
    if config.backup_dir and config.source_cache is None:
        config = dataclasses.replace(
            config, source_cache=os.path.join(config.backup_dir, "source")
        )
    with run.scope():
        source_path = None
        if not config.source.startswith("keras:"):
            source_path = prepare_source(config, run)
        regimes = [
            run_regime(config, source_path, targets[similar], similar, per_class, done)
            for per_class in (config.small_per_class, config.large_per_class)
            for similar in (True, False)
        ]
    metrics = {
        "source": config.source,
        "regimes": regimes,
        "recommendation_won": sum(r["recommendation_won"] for r in regimes),
        "seconds": round(time.perf_counter() - start, 1),
    }
    plot(regimes, run.file("regimes.png"))
    done.remove()
    return run.finish(
        metrics,
        lines=["", *table(regimes)]
        + [f"the notes' pick won {metrics['recommendation_won']} of 4 cells"],
    )
