"""CNN codes: the activations of a trained network, used as features."""

from __future__ import annotations

import keras

from components.checks import invalid_value


def _layer_names(model):
    return [layer.name for layer in model.layers]


def find_layer(model, name):
    """`model.get_layer(name)` with an error that lists what exists.

    A layer inside a nested model is not reachable from the outer model's
    graph; the error says which nested model holds it.
    """
    if name in _layer_names(model):
        return model.get_layer(name)
    for layer in model.layers:
        if isinstance(layer, keras.Model) and name in _layer_names(layer):
            raise ValueError(
                f"Layer {name!r} is inside the nested model {layer.name!r}: pass "
                f"`model.get_layer({layer.name!r})` instead of the outer model."
            )
    names = _layer_names(model)
    shown = ", ".join(names[:8] + ["..."] + names[-4:]) if len(names) > 12 else names
    raise ValueError(
        invalid_value(
            "layer_name", name, f"the name of a layer of model {model.name!r} ({shown})"
        )
    )


def default_early_layer(model):
    """The name of an early layer of `model`: where its second resolution ends.

    The notes' "activations somewhere earlier in the network". Layers with a
    spatial (4-D) output (padding layers aside) are grouped in runs of equal
    height and width (one
    run per resolution stage); the last layer of a stage early in the network
    (the second of four, the first of two or three) is returned: past the raw
    edges of the first layers, before the dataset-specific top. Pass an
    explicit name to choose another.

    Example:

    >>> from components import models
    >>> default_early_layer(models.build("vgg", (32, 32, 1), 5))
    'stage2_2_act'
    """
    stage_ends, last_size = [], None
    for layer in model.layers[1:]:
        shape = layer.output.shape
        # Padding layers (before strided convolutions) are not a stage's output.
        if len(shape) != 4 or isinstance(layer, keras.layers.ZeroPadding2D):
            continue
        if shape[1:3] == last_size:
            stage_ends[-1] = layer.name
        else:
            stage_ends.append(layer.name)
        last_size = shape[1:3]
    if not stage_ends:
        raise ValueError(f"Model {model.name!r} has no layer with a spatial output.")
    return stage_ends[max(0, len(stage_ends) // 2 - 1)]


def feature_extractor(model, layer_name=None, grid=1):
    """A model from `model`'s input to the CNN codes at `layer_name`.

    With `layer_name=None` the codes are the top ones: the input of the last
    layer (the classifier), as in the notes' "train a linear classifier on the
    CNN codes". A spatial output (a 4-D feature map) is average-pooled to a
    `grid x grid` map and flattened, so that early layers give codes of a
    manageable size that keep a little of the layout.

    The extractor shares its layers (and weights) with `model`.

    Args:
        model: A functional Keras model (a builder's network or a
            `keras.applications` base).
        layer_name: String or `None`. The layer whose output is the codes.
        grid: Positive integer. Side of the pooled grid for spatial outputs.

    Returns:
        A `keras.Model` from `model.inputs` to a flat `(batch, features)` output.

    Example:

    >>> from components import models
    >>> net = models.build("vgg", (16, 16, 1), 5)
    >>> feature_extractor(net).output.shape
    (None, 256)
    >>> feature_extractor(net, "stage2_2_act", grid=2).output.shape
    (None, 128)
    """
    if not isinstance(grid, int) or grid < 1:
        raise ValueError(invalid_value("grid", grid, "an integer >= 1"))
    if layer_name is None:
        codes = model.layers[-1].input
        name = model.layers[-1].name
    else:
        codes = find_layer(model, layer_name).output
        name = layer_name
    if len(codes.shape) == 4:
        height, width = codes.shape[1], codes.shape[2]
        if grid > min(height, width):
            raise ValueError(
                invalid_value(
                    "grid", grid, f"at most the {height}x{width} map of layer {name!r}"
                )
            )
        pool = (height // grid, width // grid)
        codes = keras.layers.AveragePooling2D(pool, name="codes_pool")(codes)
        codes = keras.layers.Flatten(name="codes_flat")(codes)
    elif len(codes.shape) != 2:
        raise ValueError(
            f"Layer {name!r} gives {len(codes.shape)}-D outputs: codes need a 2-D "
            "(batch, features) or 4-D (batch, height, width, channels) output."
        )
    return keras.Model(model.inputs, codes, name=f"{model.name}_codes")
