"""The model registry: `build(name, input_shape, num_classes, **options)`."""

from __future__ import annotations

import dataclasses
import inspect

import keras

from components.checks import invalid_value
from components.models.blocks import FEATURES

_BUILDERS = {}
_PRESETS = {}


def register(name, presets=None):
    """Registers a builder function under `name`.

    A builder is `fn(input_shape, num_classes, **options) -> keras.Model`; its
    keyword arguments are its options. Adding a model is one decorated function.

    Args:
        name: String. The name `build` looks it up by.
        presets: Dict or `None`. The builder's presets (name -> settings), so
            that `preset_settings` can report their defaults.

    Example:

    >>> import keras
    >>> @register("tiny_example")
    ... def tiny(input_shape, num_classes, units=4):
    ...     inputs = keras.Input(input_shape)
    ...     x = keras.layers.Flatten()(inputs)
    ...     return keras.Model(inputs, keras.layers.Dense(num_classes)(x))
    >>> build("tiny_example", (8, 8, 1), 3).output_shape
    (None, 3)
    >>> _ = _BUILDERS.pop("tiny_example"), _PRESETS.pop("tiny_example")
    """

    def decorator(fn):
        if name in _BUILDERS:
            raise ValueError(f"A model builder named {name!r} is already registered.")
        _BUILDERS[name] = fn
        _PRESETS[name] = presets or {}
        return fn

    return decorator


def available():
    """Returns the sorted names of the registered builders."""
    return sorted(_BUILDERS)


def preset_settings(name, preset="small"):
    """The settings of a builder's preset (empty when it has none).

    Example:

    >>> preset_settings("vgg")["width"]
    16
    """
    _get(name)
    settings = dict(_PRESETS[name].get(preset, {}))
    settings.pop("common", None)
    return settings


def builder_options(name):
    """Returns the options of a builder with their defaults, as a dict.

    A builder that takes `**common` also accepts every `CommonOptions` field
    (its own preset may change their defaults).
    """
    from components.models.options import CommonOptions

    fn = _get(name)
    params = list(inspect.signature(fn).parameters.values())[2:]
    options = {
        p.name: p.default for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        for field in dataclasses.fields(CommonOptions):
            options.setdefault(field.name, field.default)
    return options


def _get(name):
    if name not in _BUILDERS:
        raise ValueError(
            invalid_value("model", name, f"one of {', '.join(available())}")
        )
    return _BUILDERS[name]


def _check_input_shape(input_shape):
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(v, int) and v > 0 for v in shape)
    ):
        raise ValueError(
            invalid_value(
                "input_shape",
                input_shape,
                "(height, width, channels) of positive integers",
            )
        )
    return shape


def build(name, input_shape, num_classes, include_top=True, **options):
    """Builds a registered model.

    Args:
        name: String. A name from `available()`.
        input_shape: Tuple. `(height, width, channels)`.
        num_classes: Integer >= 2.
        include_top: Boolean. `False` gives the feature extractor alone (the
            model up to its last feature map, as `keras.applications` does),
            for builders that have one (the convolutional ones).
        **options: The builder's own options (see `builder_options(name)`).

    Returns:
        A `keras.Model` mapping images to class scores, or to the feature map.

    Example:

    >>> model = build("vgg", (16, 16, 1), 10, width=8)
    >>> model.output_shape
    (None, 10)
    >>> build("vgg", (16, 16, 1), 10, include_top=False, width=8).output_shape
    (None, 2, 2, 32)
    """
    fn = _get(name)
    input_shape = _check_input_shape(input_shape)
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(invalid_value("num_classes", num_classes, "an integer >= 2"))
    known = builder_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"Unknown option(s) {', '.join(unknown)} for model {name!r}. Its options "
            f"are: {', '.join(known)}."
        )
    if not isinstance(include_top, bool):
        raise ValueError(invalid_value("include_top", include_top, "True or False"))
    model = fn(input_shape, num_classes, **options)
    if include_top:
        return model
    names = {layer.name for layer in model.layers}
    if FEATURES not in names:
        raise ValueError(
            invalid_value(
                "include_top",
                include_top,
                f"True for model {name!r}, which has no feature map to stop at",
            )
        )
    features = model.get_layer(FEATURES).output
    return keras.Model(model.inputs, features, name=f"{model.name}_features")
