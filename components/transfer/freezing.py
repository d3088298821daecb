"""Freezing and unfreezing a base network for fine-tuning."""

from __future__ import annotations

import keras

from components.callbacks.model_state import leaf_layers
from components.transfer.features import find_layer


def freeze(model):
    """Makes every weight of `model` non-trainable; returns `model`.

    A frozen `BatchNormalization` also runs in inference mode in Keras 3: its
    moving mean and variance stop updating, which is what a frozen base needs.
    Recompile the model after changing what is trainable.
    """
    model.trainable = False
    return model


def unfreeze(model, from_layer=None, keep_batch_norm_frozen=True):
    """Makes the top of `model` trainable for fine-tuning; returns `model`.

    The notes: fine-tune "through the full network" with a small learning rate
    once the new head has been trained, so that large gradients from a random
    head do not wreck the pretrained features. Batch-norm layers stay frozen by
    default: on a small target set their statistics would drift away from the
    ones the pretrained weights expect (the Keras transfer-learning guide does
    the same). Recompile after calling.

    Args:
        model: A Keras model (layers may be nested models).
        from_layer: String or `None`. Layers from this one (in `model.layers`
            order) to the end become trainable; `None`: all of them.
        keep_batch_norm_frozen: Boolean. Keep every `BatchNormalization` in
            inference mode with frozen parameters.

    Returns:
        `model`.

    Example:

    >>> from components import models
    >>> net = models.build("vgg", (16, 16, 1), 5)
    >>> _ = unfreeze(freeze(net), from_layer="stage3_1_conv")
    >>> net.get_layer("stage2_2_conv").trainable, net.get_layer("stage3_1_conv").trainable
    (False, True)
    >>> net.get_layer("stage3_1_bn").trainable
    False
    """
    layers = model.layers
    start = 0 if from_layer is None else layers.index(find_layer(model, from_layer))
    model.trainable = True
    for index, layer in enumerate(layers):
        layer.trainable = index >= start
    if keep_batch_norm_frozen:
        for layer in leaf_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    return model
