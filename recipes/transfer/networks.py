"""The transfer recipe's networks: the pretrained source, its copies, scratch ones."""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np

from components import data, models, transfer
from recipes.run import reports, training
from recipes.transfer.config import channels
from recipes.transfer.targets import digits_half


def fit_network(config, model, images, labels, epochs, learning_rate, seed):
    """Full-network training on arrays through the project's tf.data pipeline."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    fit_config = dataclasses.replace(config, epochs=epochs, learning_rate=learning_rate)
    batch = min(config.batch_size, len(images))
    steps = -(-len(images) // batch)
    training.compile_model(fit_config, model, steps, "sparse_categorical_crossentropy")
    pipeline = data.make_pipeline(
        tf.data.Dataset.from_tensor_slices((images, labels)),
        batch,
        training=True,
        augment=config.augment,
        input_shape=images.shape[1:],
        seed=seed,
    )
    return model.fit(
        pipeline, epochs=epochs, verbose=config.verbose, shuffle=False
    ).history


def _scratch_network(config, num_classes):
    if config.source.startswith("keras:"):
        name = config.source[len("keras:") :]
        shape = (config.image_size, config.image_size, 3)
        base, preprocessing = transfer.application_base(name, shape, weights=None)
        head = keras.layers.Dense(num_classes, activation="softmax", name="predictions")
        inputs = keras.Input(shape, name="images")
        return keras.Model(inputs, head(base(preprocessing(inputs))), name=name)
    shape = (config.image_size, config.image_size, channels(config))
    return models.build(config.model, shape, num_classes)


def _normalized(network, images):
    normalizer = keras.layers.Normalization(axis=-1, name="normalize")
    normalizer.adapt(images)
    inputs = keras.Input(images.shape[1:], name="images")
    return keras.Model(inputs, network(normalizer(inputs)), name="source")


def prepare_source(config, run):
    """Trains (or reloads) the offline source model; returns its path."""
    folder = config.source_cache or run.file("source")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.keras")
    key = {
        k: getattr(config, k)
        for k in ("model", "image_size", "source_epochs", "seed", "learning_rate")
    }
    key_path = os.path.join(folder, "source.json")
    if os.path.exists(path) and os.path.exists(key_path):
        with open(key_path) as f:
            if json.load(f) == key:
                reports.report([f"source model: reusing {path}"])
                return path
    source = digits_half(config, range(5), "digits 0-4")
    images, labels = source.train
    model = _normalized(_scratch_network(config, 5), images)
    reports.report([f"source model: training {config.model} on digits 0-4"])
    fit_network(
        config,
        model,
        images,
        labels,
        config.source_epochs,
        config.learning_rate,
        config.seed,
    )
    accuracy = float(
        np.mean(model.predict(source.test[0], verbose=0).argmax(-1) == source.test[1])
    )
    model.save(path)
    reports.atomic_write_json(key_path, key)
    reports.atomic_write_json(
        os.path.join(folder, "metrics.json"), {"test_accuracy": accuracy}
    )
    reports.report([f"source model: digits 0-4 test accuracy {accuracy:.4f}"])
    return path


def load_pretrained(config, source_path):
    """A fresh copy of the pretrained network: `(preprocessing, network, top)`.

    `network` ends in a classifier (the project's model) or in pooled codes
    (`keras.applications`); `top` maps preprocessed images to the top codes.
    Each call gives new weights, so that fine-tuning never touches the cache.
    """
    if config.source.startswith("keras:"):
        name = config.source[len("keras:") :]
        weights = None if config.weights == "none" else config.weights
        shape = (config.image_size, config.image_size, 3)
        base, preprocessing = transfer.application_base(name, shape, weights)
        return preprocessing, base, base
    loaded = keras.saving.load_model(source_path)
    normalizer, network = loaded.get_layer("normalize"), loaded.layers[-1]
    return normalizer, network, transfer.feature_extractor(network)


def scratch_model(config, images, num_classes):
    """The same architecture, randomly initialized, for the target."""
    network = _scratch_network(config, num_classes)
    if config.source.startswith("keras:"):
        return network
    return _normalized(network, images)


def check_early_layer(config):
    """Fails fast on an `--early-layer` the network does not have."""
    if config.early_layer is None:
        return
    network = _scratch_network(config, 2)
    if config.source.startswith("keras:"):
        network = network.layers[-2]  # the base, between preprocessing and head
    transfer.find_layer(network, config.early_layer)
