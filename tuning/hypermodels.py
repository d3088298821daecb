"""KerasTuner search spaces for the recipes, trained by the recipes' own code."""

from __future__ import annotations

import dataclasses

import keras
import keras_tuner

from components import data, models
from components.callbacks import DivergenceStop
from components.checks import invalid_value
from recipes import classify, yolo

SAMPLINGS = ("log", "linear")
# The notes: "learning_rate = 10 ** uniform(-6, 1)".
LEARNING_RATE_RANGE = (1e-6, 10.0)


def learning_rate(hp, sampling):
    """The learning rate over [1e-6, 10] (the notes' range), default 1e-3."""
    low, high = LEARNING_RATE_RANGE
    return hp.Float("learning_rate", low, high, sampling=sampling, default=1e-3)


def fit_or_fail(model, *args, **kwargs):
    """`model.fit`, stopped at the first non-finite loss, which fails the trial.

    KerasTuner records a trial that raises `FailedTrialError` as FAILED and
    goes on with the next one; a diverged trial would otherwise count as
    COMPLETED with a meaningless (NaN or chance-level) objective.
    """
    stop = DivergenceStop()
    kwargs["callbacks"] = [*kwargs.get("callbacks", []), stop]
    history = model.fit(*args, **kwargs)
    if stop.diverged:
        raise keras_tuner.errors.FailedTrialError(stop.message())
    return history


def _check_sampling(learning_rate_sampling):
    if learning_rate_sampling not in SAMPLINGS:
        raise ValueError(
            invalid_value(
                "learning_rate_sampling", learning_rate_sampling, "'log' or 'linear'"
            )
        )


class ClassifyHyperModel(keras_tuner.HyperModel):
    """The classification recipe's search space, trained by the recipe's code.

    A trial is the recipe run with some of its flags set by the
    hyperparameters: the model is built by `recipes.classify.build_model`,
    compiled by `recipes.classify.compile_member` (loss, learning-rate
    schedule, `steps_per_execution`, every optimizer flag) and fed by the
    recipe's pipeline (epoch-seeded shuffling, augmentation), seeded as the
    recipe seeds. So `python -m recipes.classify` with the best trial's flags
    (`trial_config(...)`, which `tuning.search --retrain` runs) repeats that
    trial. Every hyperparameter has a default (the recipe's), so trial 0 of
    a Bayesian search starts from a configuration known to work:

    | name | space |
    | --- | --- |
    | `model` | the registered builders given |
    | `width_multiplier` | 0.5, 1, 2 times the builder's own width |
    | `dropout` | 0.0 ... 0.7 |
    | `l2` | 1e-6 ... 1e-2, log scale |
    | `optimizer` | adam, nesterov |
    | `momentum` | 0.5 ... 0.99 (nesterov) |
    | `learning_rate` | 1e-6 ... 10, log scale (the notes), or linear for comparison |
    | `batch_size` | 32, 64, 128 |

    Args:
        config: `recipes.classify.Config`. The recipe's fixed flags (data,
            epochs, schedule, seed...); the hyperparameters replace the rest.
        splits: The recipe's `DatasetSplits` (shape and classes).
        normalizer: A `keras.layers.Normalization` fitted on the training split
            (see `components.data.fit_normalizer`), copied into every model.
        builders: Tuple of registered builder names to choose from.
        learning_rate_sampling: `"log"` (default) or `"linear"`.
        name: String. Name of the hypermodel.
    """

    def __init__(
        self,
        config,
        splits,
        normalizer,
        builders=("vgg", "alexnet", "googlenet", "squeezenet", "mlp"),
        learning_rate_sampling="log",
        name="classify",
    ):
        super().__init__(name=name)
        unknown = sorted(set(builders) - set(models.available()))
        if not builders or unknown:
            raise ValueError(
                invalid_value(
                    "builders",
                    builders,
                    f"a non-empty subset of {', '.join(models.available())}",
                )
            )
        _check_sampling(learning_rate_sampling)
        self.config = config
        self.splits = splits
        self.normalizer = normalizer
        self.builders = tuple(builders)
        self.learning_rate_sampling = learning_rate_sampling

    def declare(self, hp):
        """Registers every hyperparameter on `hp` and returns their values."""
        return {
            "model": hp.Choice("model", list(self.builders), default=self.builders[0]),
            "width_multiplier": hp.Choice(
                "width_multiplier", [0.5, 1.0, 2.0], default=1.0
            ),
            "dropout": hp.Float("dropout", 0.0, 0.7, step=0.1, default=0.5),
            "l2": hp.Float("l2", 1e-6, 1e-2, sampling="log", default=1e-5),
            "optimizer": hp.Choice("optimizer", ["adam", "nesterov"], default="adam"),
            "momentum": hp.Float("momentum", 0.5, 0.99, default=0.9),
            "learning_rate": learning_rate(hp, self.learning_rate_sampling),
            "batch_size": hp.Choice("batch_size", [32, 64, 128], default=64),
        }

    def trial_config(self, values):
        """The recipe's config for a set of hyperparameter values.

        Options the chosen builder does not take keep the recipe's defaults
        (so the recipe accepts the config as flags).
        """
        name = values["model"]
        accepted = models.builder_options(name)
        width = models.preset_settings(name).get("width")
        if width is not None and "width" in accepted:
            width = max(1, int(round(width * values["width_multiplier"])))
        else:
            width = None
        return dataclasses.replace(
            self.config,
            model=name,
            width=width,
            dropout=values["dropout"] if "dropout" in accepted else None,
            l2=values["l2"] if "l2" in accepted else 0.0,
            optimizer=values["optimizer"],
            momentum=values["momentum"],
            learning_rate=values["learning_rate"],
            batch_size=values["batch_size"],
        )

    def build(self, hp):
        config = self.trial_config(self.declare(hp))
        # The recipe seeds before it builds, and again before it compiles.
        keras.utils.set_random_seed(config.seed)
        model = classify.build_model(config, self.splits, self.normalizer, config.width)
        keras.utils.set_random_seed(config.seed)
        classify.compile_member(config, model, self.splits)
        return model

    def fit(self, hp, model, train, validation_data=None, **kwargs):
        """The recipe's pipelines with the trial's batch size, then fits."""
        config = self.trial_config(hp.values)
        kwargs.pop("seed", None)  # the recipe's own seed governs, as in a run
        pipeline, epoch_seeds = classify.member_pipeline(
            config, self.splits, train, config.seed
        )
        kwargs["callbacks"] = [epoch_seeds, *kwargs.get("callbacks", [])]
        return fit_or_fail(
            model,
            pipeline,
            validation_data=data.make_pipeline(validation_data, 256),
            shuffle=False,
            **kwargs,
        )


# The loss weights a search samples, each `(low, high)` on a log scale
# around its default (the paper's, YOLOv8's), for the weights that the
# detector's kind takes (`recipes.yolo.LOSS_FLAGS`).
LOSS_SPACES = {
    "lambda_coord": (1.0, 10.0),
    "lambda_noobj": (0.05, 1.0),
    "class_weight": (0.1, 2.5),
    "box_weight": (1.5, 30.0),
    "distribution_weight": (0.3, 6.0),
}


class YoloHyperModel(keras_tuner.HyperModel):
    """The YOLO recipe's search space (objective: validation mAP@[.5:.95],
    `val_map`, higher is better: what detection is judged by, where the
    validation loss need not follow it).

    As for `ClassifyHyperModel`, a trial is the recipe's own code (its
    detector, backbone flags, optimizer flags and schedule, loss and
    pipelines) with some flags set by the hyperparameters; each epoch the
    validation images are scored with pycocotools (`DetectionValidation`).
    Defaults are the recipe's:

    | name | space |
    | --- | --- |
    | `width` | 8, 16, 24 (backbone width; v1 and dense) |
    | `head_width` | 128, 256 (v1 and dense) |
    | the kind's loss weights | `LOSS_SPACES`, log scale: v1's `lambda_coord` (paper: 5) and `lambda_noobj` (0.5); dense's and yolov8's `class_weight` (0.5), `box_weight` (7.5), yolov8's `distribution_weight` (1.5) |
    | `learning_rate` | 1e-6 ... 10, log scale (the notes), or linear |
    | `batch_size` | 32, 64 |

    Args:
        config: `recipes.yolo.Config`. The recipe's fixed settings.
        splits: `DetectionSplits` the trials train on (shape and classes).
        learning_rate_sampling: `"log"` (default) or `"linear"`.
        name: String. Name of the hypermodel.
    """

    def __init__(self, config, splits, learning_rate_sampling="log", name="yolo"):
        super().__init__(name=name)
        _check_sampling(learning_rate_sampling)
        self.config = config
        self.splits = splits
        self.learning_rate_sampling = learning_rate_sampling
        self.losses = yolo.LOSS_FLAGS[config.head]
        self.network = ("width", "head_width") if config.head_width else ()
        self._validation = None

    def declare(self, hp):
        """Registers every hyperparameter on `hp` and returns their values."""
        values = {}
        if self.network:
            values["width"] = hp.Choice("width", [8, 16, 24], default=self.config.width)
            values["head_width"] = hp.Choice("head_width", [128, 256], default=256)
        for name in self.losses:
            low, high = LOSS_SPACES[name]
            values[name] = hp.Float(
                name, low, high, sampling="log", default=getattr(self.config, name)
            )
        values["learning_rate"] = learning_rate(hp, self.learning_rate_sampling)
        values["batch_size"] = hp.Choice("batch_size", [32, 64], default=64)
        return values

    def trial_config(self, values):
        """The recipe's config for a set of hyperparameter values."""
        names = (*self.network, *self.losses, "learning_rate", "batch_size")
        return dataclasses.replace(self.config, **{k: values[k] for k in names})

    def validation(self, split="validation"):
        """The callback that scores each epoch on `split` (`val_map`, ...)."""
        if self._validation is None:
            from components import detection
            from recipes.run import detecting

            images = detecting.evaluation_split(self.splits, split, 64)
            self._validation = (
                images,
                detection.coco_ground_truth(
                    images.boxes,
                    images.labels,
                    self.splits.image_shape,
                    self.splits.class_names,
                ),
            )
        images, truth = self._validation
        return detection_validation(images, truth)

    def build(self, hp):
        config = self.trial_config(self.declare(hp))
        keras.utils.set_random_seed(config.seed)
        model = yolo.build_model(config, self.splits)
        yolo.compile_detector(config, model, self.splits)
        return model

    def fit(self, hp, model, train, validation_data=None, **kwargs):
        """The recipe's pipelines with the trial's batch size, then fits."""
        config = self.trial_config(hp.values)
        kwargs.pop("seed", None)
        epoch_seeds = data.EpochSeeds(config.seed)
        # The mAP first: the tuner's own callbacks read it from the logs.
        scoring = self.validation(validation_data)
        kwargs["callbacks"] = [epoch_seeds, scoring, *kwargs.get("callbacks", [])]
        return fit_or_fail(
            model,
            yolo.make_pipeline(config, self.splits, train, epoch_seeds, model=model),
            validation_data=yolo.make_pipeline(
                config, self.splits, validation_data, model=model
            ),
            shuffle=False,
            **kwargs,
        )


def detection_validation(images, truth):
    """`DetectionValidation` of a detector on an `EvaluationSplit`: its
    `predict` on the images gives the detections (`detection.Detector`)."""
    from components import detection

    return detection.DetectionValidation(
        lambda model: model.predict(images.images, verbose=0), truth
    )
