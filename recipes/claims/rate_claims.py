"""Claims about the learning rate: the update / weight ratio and the batch size."""

from __future__ import annotations

import functools
import warnings

import numpy as np

from components.callbacks import UpdateRatioMonitor
from recipes.claims import kit
from recipes.claims.claim import Claim, Comparison

SWEEP = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@functools.lru_cache(maxsize=16)
def rate_sweep(seed, quick):
    """Per rate of plain SGD: test accuracy and the first epoch's median
    update / weight ratio (UpdateRatioMonitor, from the weights' real steps)."""
    data = kit.digits(8, seed, flat=True, standardized=True)
    epochs = 2 if quick else 15
    found = {}
    for rate in SWEEP:
        model = kit.mlp([128, 128], seed=seed)
        monitor = UpdateRatioMonitor()
        with warnings.catch_warnings():  # its advice: the sweep goes far on purpose
            warnings.simplefilter("ignore")
            result = kit.train(
                model, data, seed=seed, epochs=epochs, rate=rate, callbacks=[monitor]
            )
        history = model.history.history
        ratio = history.get("update_ratio_median", [np.nan])[0]
        found[rate] = (result["test_accuracy"], float(ratio))
    return found


def run_update_ratio(arm, seed, quick):
    sweep = rate_sweep(seed, quick)
    distance = {
        rate: abs(np.log10(max(r, 1e-12)) + 3) for rate, (_, r) in sweep.items()
    }
    nearest = min(distance, key=distance.get)
    if arm == "near_1e-3":
        accuracy, ratio = sweep[nearest]
        rate = nearest
    else:  # the best rate whose ratio is more than 10x from 1e-3
        far = [rate for rate, d in distance.items() if d > 1 and rate != nearest]
        far = far or [rate for rate in sweep if rate != nearest]
        rate = max(far, key=lambda r: sweep[r][0])
        accuracy, ratio = sweep[rate]
    return {
        "test_accuracy": accuracy,
        "update_ratio": ratio,
        "rate": rate,
        "sweep": {
            str(r): {"test_accuracy": a, "update_ratio": q}
            for r, (a, q) in sweep.items()
        },
    }


UPDATE_RATIO = Claim(
    name="update_ratio",
    words="LR -> ratio between the update norm and the weight norm ~ 1e-3.",
    experiment="A two-layer, 128-unit ReLU MLP on standardized 8x8 digits, plain "
    "SGD at 1e-4, 1e-3, 1e-2, 0.1 and 1, 15 epochs each: the first epoch's median "
    "update / weight ratio and the test accuracy per rate (sweep in claims.json). "
    "Judged: the rate whose ratio is nearest 1e-3 against the best of the rates "
    "whose ratio is more than 10x away.",
    paper="CS231n, Neural Networks 3: 'somewhere around 1e-3'; a heuristic, no "
    "paper figure.",
    arms=("near_1e-3", "best_elsewhere"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("near_1e-3", "best_elsewhere"),),
    run=run_update_ratio,
)

BATCH_SIZES = (16, 64, 256, 512)
BASE_RATE, BASE_BATCH = 0.01, 16


def run_batch_size(arm, seed, quick):
    data = kit.digits(8, seed, flat=True, standardized=True)
    figures = {}
    for batch in BATCH_SIZES[:2] if quick else BATCH_SIZES:
        rate = BASE_RATE * (batch / BASE_BATCH if arm == "scaled" else 1.0)
        result = kit.train(
            kit.mlp([128, 128], seed=seed),
            data,
            seed=seed,
            epochs=2 if quick else 20,
            rate=rate,
            momentum=0.9,
            batch_size=batch,
        )
        figures[f"batch_{batch}"] = result["test_accuracy"]
    return {"mean_test_accuracy": float(np.mean(list(figures.values()))), **figures}


BATCH_SIZE = Claim(
    name="batch_size",
    words="You should not always change the learning rate if you change the mini "
    "batch size.",
    experiment="A two-layer, 128-unit ReLU MLP on standardized 8x8 digits, 20 "
    "epochs of SGD + momentum 0.9 at batch sizes 16, 64, 256 and 512, the rate "
    "fixed at 0.01 or scaled linearly from 0.01 at 16 (0.32 at 512); test accuracy "
    "averaged over the batch sizes (each in claims.json).",
    paper="Against the notes: Goyal et al. 2017 scale the rate linearly with the "
    "batch (ImageNet in one hour, batches up to 8k at no loss).",
    arms=("fixed", "scaled"),
    metric="mean_test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("fixed", "scaled"),),
    run=run_batch_size,
)

CLAIMS = (UPDATE_RATIO, BATCH_SIZE)
