"""KerasTuner search spaces for the recipes."""

from __future__ import annotations

import dataclasses

import keras
import keras_tuner

from components import data, detection, models
from components.callbacks import DivergenceStop
from components.checks import invalid_value
from components.optimizers import build_optimizer
from recipes import yolo

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


class ClassifyHyperModel(keras_tuner.HyperModel):
    """The classification recipe's search space.

    Fixed settings (validated here, as in keras-tuner's `applications`): the
    input shape, the number of classes, the training-set normalizer, the
    builders to choose from and how the learning rate is sampled. Every
    hyperparameter has a default (the recipe's), so trial 0 of a Bayesian
    search starts from a configuration known to work:

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
        input_shape: Tuple. `(height, width, channels)` of the images.
        num_classes: Integer >= 2.
        normalizer: A `keras.layers.Normalization` fitted on the training split
            (see `components.data.fit_normalizer`), copied into every model.
        builders: Tuple of registered builder names to choose from.
        learning_rate_sampling: `"log"` (default) or `"linear"`.
        name: String. Name of the hypermodel.
    """

    def __init__(
        self,
        input_shape,
        num_classes,
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
        if learning_rate_sampling not in SAMPLINGS:
            raise ValueError(
                "Invalid value received for argument `learning_rate_sampling`. Expected "
                f"'log' or 'linear'. Received: {learning_rate_sampling!r}"
            )
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                invalid_value("num_classes", num_classes, "an integer >= 2")
            )
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
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

    def model_options(self, values):
        """The builder options a set of hyperparameter values stands for."""
        name = values["model"]
        accepted = models.builder_options(name)
        options = {"dropout": values["dropout"], "l2": values["l2"]}
        width = models.preset_settings(name).get("width")
        if width is not None:
            options["width"] = max(1, int(round(width * values["width_multiplier"])))
        return {k: v for k, v in options.items() if k in accepted}

    def build(self, hp):
        values = self.declare(hp)
        network = models.build(
            values["model"],
            self.input_shape,
            self.num_classes,
            **self.model_options(values),
        )
        normalizer = type(self.normalizer).from_config(self.normalizer.get_config())
        inputs = keras.Input(self.input_shape, name="images")
        model = keras.Model(inputs, network(normalizer(inputs)), name=values["model"])
        self._compile(model, hp)
        return model

    def _compile(self, model, hp):
        model.compile(
            optimizer=build_optimizer(
                hp.get("optimizer"),
                hp.get("learning_rate"),
                momentum=hp.get("momentum"),
            ),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=8,
        )

    def fit(
        self,
        hp,
        model,
        train,
        validation_data=None,
        augment="rotate,translate",
        seed=0,
        **kwargs,
    ):
        """Batches the unbatched splits with the trial's batch size, then fits."""
        batch_size = hp.get("batch_size")
        train_pipeline = data.make_pipeline(
            train,
            batch_size,
            training=True,
            augment=augment,
            input_shape=self.input_shape,
            seed=seed,
        )
        val_pipeline = data.make_pipeline(validation_data, 256)
        return fit_or_fail(
            model, train_pipeline, validation_data=val_pipeline, shuffle=False, **kwargs
        )


class YoloHyperModel(keras_tuner.HyperModel):
    """The YOLO recipe's search space (objective: validation loss, lower is better).

    Fixed settings: the recipe's `Config` (data, grid, boxes per cell, VGG
    stages) and the dataset's image shape and classes. Defaults are the
    recipe's:

    | name | space |
    | --- | --- |
    | `width` | 8, 16, 24 (backbone width) |
    | `head_width` | 128, 256 |
    | `lambda_coord` | 1 ... 10, log scale (paper: 5) |
    | `lambda_noobj` | 0.05 ... 1, log scale (paper: 0.5) |
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
        if learning_rate_sampling not in SAMPLINGS:
            raise ValueError(
                "Invalid value received for argument `learning_rate_sampling`. Expected "
                f"'log' or 'linear'. Received: {learning_rate_sampling!r}"
            )
        self.config = config
        self.splits = splits
        self.learning_rate_sampling = learning_rate_sampling

    def declare(self, hp):
        """Registers every hyperparameter on `hp` and returns their values."""
        return {
            "width": hp.Choice("width", [8, 16, 24], default=self.config.width),
            "head_width": hp.Choice("head_width", [128, 256], default=256),
            "lambda_coord": hp.Float(
                "lambda_coord", 1.0, 10.0, sampling="log", default=5.0
            ),
            "lambda_noobj": hp.Float(
                "lambda_noobj", 0.05, 1.0, sampling="log", default=0.5
            ),
            "learning_rate": learning_rate(hp, self.learning_rate_sampling),
            "batch_size": hp.Choice("batch_size", [32, 64], default=64),
        }

    def build(self, hp):
        values = self.declare(hp)
        config = dataclasses.replace(self.config, width=values["width"])
        model = detection.yolo_detector(
            self.splits.image_shape,
            self.splits.num_classes,
            backbone="vgg",
            grid_size=config.grid_size,
            boxes_per_cell=config.boxes_per_cell,
            head_width=values["head_width"],
            width=values["width"],
            stages=yolo.parse_stages(config.stages),
        )
        self._compile(model, hp)
        return model

    def _compile(self, model, hp):
        model.compile(
            optimizer=keras.optimizers.Adam(hp.get("learning_rate")),
            loss=detection.YoloLoss(
                self.config.grid_size,
                self.config.boxes_per_cell,
                self.splits.num_classes,
                hp.get("lambda_coord"),
                hp.get("lambda_noobj"),
            ),
            steps_per_execution=8,
        )

    def fit(self, hp, model, train, validation_data=None, seed=0, **kwargs):
        """The recipe's pipelines with the trial's batch size, then fits."""
        config = dataclasses.replace(self.config, batch_size=hp.get("batch_size"))
        epoch_seeds = data.EpochSeeds(seed)
        kwargs["callbacks"] = [epoch_seeds, *kwargs.get("callbacks", [])]
        return fit_or_fail(
            model,
            yolo.make_pipeline(config, self.splits, train, epoch_seeds),
            validation_data=yolo.make_pipeline(config, self.splits, validation_data),
            shuffle=False,
            **kwargs,
        )
