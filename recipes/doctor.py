"""The notes' checklist on a model: what would keep it from training, and why.

Runs `components.analysis.diagnose` (shuffling, input scale, the loss at
chance, activations and gradients at init, saturated and dead units, a
gradient check of custom layers, overfitting a small subset, an
input-independent baseline, a learning-rate range test, update / weight
ratios, architecture advice) on a saved model and a dataset, or on the model
a recipe would train, before it trains:

    python -m recipes.doctor --model runs/classify/RUN/model.keras --dataset digits
    python -m recipes.doctor --recipe classify -- --model vgg --learning-rate 10

The run directory (`--run-dir`, default `runs/doctor/<date-time>`) holds
`diagnosis.json`, `report.md`, `activations.png`, `gradients.png`,
`lr_finder.png` and `config.json`. Exit status 1 when a check fails, 2 on bad
input.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys

import keras

from components import data, serving
from components.analysis.doctor import CHECKS, diagnose
from components.analysis.doctor.context import STATES
from components.checks import check_positive_int, invalid_value
from recipes.run import Run, flags, health

_flag = flags.flag
RECIPES = ("classify",)
EXIT_FAILED = health.EXIT_FAILED
EPILOG = (
    "Exit status: 0 when no check failed, 1 when a check failed, 2 on bad input. "
    "The table shows a line per check; report.md in the run directory holds every "
    "figure and the rule that decided each verdict."
)


@dataclasses.dataclass
class Config:
    model: str | None = _flag(None, "A saved model (.keras) to diagnose.")
    recipe: str | None = _flag(
        None, "Diagnose the model this recipe would train (flags after --)."
    )
    dataset: str = _flag(
        "digits", "With --model: digits, dir:PATH, npz:PATH, tfds:NAME."
    )
    loss: str | None = _flag(
        None, "With --model: the loss, if the model is not compiled."
    )
    batch_size: int = _flag(64, "With --model: batch size of the data.")
    checks: str | None = _flag(
        None, f"Comma-separated checks (default all: {', '.join(CHECKS)})."
    )
    seed: int = _flag(0, "Seed of the samples the checks draw and of the copies.")
    state: str = _flag(
        "auto",
        "auto, fresh or trained: a trained model's initialization checks "
        "measure without a verdict (auto: a classifier halfway from chance to "
        "100% accuracy on the data, with a loss under half chance's, is trained).",
    )
    data_dir: str | None = _flag(None, "TFDS data directory.")
    run_dir: str | None = _flag(None, "Run directory (default runs/doctor/<time>).")
    overwrite: bool = _flag(
        False, "Replace the earlier report in --run-dir (else a used one is refused)."
    )
    verbose: int = _flag(1, "0: quiet; 1: a progress bar over the checks.")

    def validate(self):
        if (self.model is None) == (self.recipe is None):
            raise ValueError(
                "Pass exactly one of --model PATH.keras and --recipe NAME."
            )
        if self.recipe is not None and self.recipe not in RECIPES:
            raise ValueError(invalid_value("recipe", self.recipe, f"one of {RECIPES}"))
        check_positive_int("batch_size", self.batch_size)
        if self.state not in STATES:
            raise ValueError(invalid_value("state", self.state, f"one of {STATES}"))
        if self.checks is not None:
            unknown = [c for c in self.check_list() if c not in CHECKS]
            if unknown:
                raise ValueError(
                    invalid_value(
                        "checks", self.checks, f"IDs among {', '.join(CHECKS)}"
                    )
                )

    def check_list(self):
        return (
            None if self.checks is None else [c.strip() for c in self.checks.split(",")]
        )


def saved_model_case(config):
    """A saved model (the network inside a serving model) and the dataset's
    training batches at its input size."""
    import os

    if not os.path.isfile(config.model):
        raise ValueError(f"No model at {config.model!r}.")
    model = keras.saving.load_model(config.model, safe_mode=True)
    try:
        model = serving.serving_info(model)["network"]
    except ValueError:
        pass  # not a serving model: diagnose it as it is
    height, width, channels = model.input_shape[1:]
    splits = data.load(
        config.dataset,
        image_size=(height, width),
        channels=channels,
        seed=config.seed,
        data_dir=config.data_dir,
    )
    batches = data.make_pipeline(
        splits.stream("train"), config.batch_size, training=True, seed=config.seed
    )
    loss = config.loss
    if loss is None and not getattr(model, "compiled", False):
        raise ValueError(
            f"The model at {config.model!r} is not compiled: pass --loss (for "
            "example sparse_categorical_crossentropy)."
        )
    return model, batches, loss


def recipe_case(recipe_argv, recipe="classify"):
    """The model `recipe` would train with the flags `recipe_argv`, compiled as
    it compiles it, and its own training batches (shuffled and augmented as
    in training).

    The recipe is found by name, as `python -m` finds it: each recipe in
    `RECIPES` defines `doctor_case(argv) -> (model, batches)`, and no recipe
    imports another.
    """
    module = importlib.import_module(f"recipes.{recipe}")
    model, batches = module.doctor_case(recipe_argv)
    return model, batches, None


def run_doctor(run, model, batches, loss):
    """Diagnoses, saves into the run directory, reports; returns the diagnosis."""
    config = run.config
    diagnosis = diagnose(
        model,
        batches,
        loss=loss,
        checks=config.check_list(),
        seed=config.seed,
        state=config.state,
        verbose=config.verbose,
    )
    diagnosis.save(run.path)
    return diagnosis


def main(argv=None):
    """Runs the doctor; returns the `Diagnosis` (exit 1 when a check failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    recipe_argv = []
    if "--" in argv:
        cut = argv.index("--")
        argv, recipe_argv = argv[:cut], argv[cut + 1 :]
    run = Run.start(Config, argv, "doctor", __doc__, epilog=EPILOG)
    config = run.config
    with run.usage_errors():
        if config.model is not None:
            model, batches, loss = saved_model_case(config)
        else:
            model, batches, loss = recipe_case(recipe_argv, config.recipe)
    run.open()
    diagnosis = run_doctor(run, model, batches, loss)
    print(diagnosis)
    metrics = {
        "failed": [f.check for f in diagnosis.failed],
        "warned": [f.check for f in diagnosis.warnings],
        "seconds": diagnosis.seconds,
    }
    run.finish(metrics, lines=[f"diagnosis in {diagnosis.seconds} s"])
    if diagnosis.failed:
        raise SystemExit(EXIT_FAILED)
    return diagnosis


if __name__ == "__main__":
    main()
