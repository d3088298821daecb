"""Claims about generalization: dropout, ensembles, augmentation, pooling, LRN."""

from __future__ import annotations

import keras
import numpy as np

from components import data, models
from components.analysis import flops
from recipes.claims.claim import COMPARABLE, Claim, Comparison
from recipes.claims.experiments import digits, fit_and_score, standardize


def small_training_set(x, y, per_class, seed):
    index = data.sample_per_class(y, per_class, seed)
    return x[index], y[index]


def _dropout_mlp(arm, units=512):
    layers = [keras.Input((64,))]
    for _ in range(2):
        layers.append(
            keras.layers.Dense(units, activation="relu", kernel_initializer="he_normal")
        )
        if arm == "dropout":
            layers.append(keras.layers.Dropout(0.5))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)


def run_dropout(arm, seed, quick):
    """Test accuracy along a long run on 20 examples per class."""
    x, y, xt, yt = digits(8, seed)
    x, xt = standardize(x.reshape(len(x), -1), xt.reshape(len(xt), -1))
    x, y = small_training_set(x, y, 20, seed)
    keras.utils.set_random_seed(seed)
    model = _dropout_mlp(arm)
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.9),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    epochs = 4 if quick else 300
    checkpoints = {}
    for epoch in range(epochs // 4, epochs + 1, epochs // 4):
        model.fit(x, y, epochs=epochs // 4, batch_size=50, verbose=0)
        scores = model.predict(xt, verbose=0)
        checkpoints[epoch] = float(np.mean(np.argmax(scores, -1) == yt))
    values = list(checkpoints.values())
    return {
        "test_accuracy": values[-1],
        "gain_second_half": values[-1] - values[1],
        "curve": checkpoints,
    }


DROPOUT = Claim(
    name="dropout",
    words="Use dropout after large layers ... dropout nets keep getting better and "
    "better the longer you train them.",
    experiment="A two-layer, 512-unit ReLU MLP on 20 standardized digits per class, "
    "with dropout 0.5 after each large layer or none, 300 epochs of SGD + momentum "
    "0.9 at 0.01: final test accuracy, and its change over the second half of the "
    "run (test accuracy at 75, 150, 225, 300 epochs in claims.json).",
    paper="Srivastava et al. 2014, Fig. 4: dropout nets' test error keeps falling "
    "over long runs (MNIST: 1.6% to 1.25% with dropout on 2x1024 units).",
    arms=("dropout", "none"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("dropout", "none"),),
    run=run_dropout,
)


def _mlp(width):
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


# Four members of width 113 hold about the parameters of one of width 256
# (85,468 against 85,002): equal parameters, and each trains the same epochs.
WIDE, MEMBERS, NARROW = 256, 4, 113


def run_ensemble(arm, seed, quick):
    x, y, xt, yt = digits(8, seed)
    x, xt = standardize(x.reshape(len(x), -1), xt.reshape(len(xt), -1))
    x, y = small_training_set(x, y, 40, seed)
    epochs = 2 if quick else 40
    widths = [WIDE] if arm == "single" else [NARROW] * MEMBERS
    scores, parameters = 0.0, 0
    for index, width in enumerate(widths):
        keras.utils.set_random_seed(seed * 100 + index)
        model = _mlp(width)
        fit_and_score(
            model,
            x,
            y,
            xt,
            yt,
            epochs=epochs,
            seed=seed * 100 + index,
            optimizer=keras.optimizers.Adam(1e-3),
            batch_size=32,
        )
        scores = scores + model.predict(xt, verbose=0)
        parameters += model.count_params()
    return {
        "test_accuracy": float(np.mean(np.argmax(scores, -1) == yt)),
        "parameters": parameters,
    }


ENSEMBLE = Claim(
    name="ensemble",
    words="Use ensembling with smaller models.",
    experiment="On 40 standardized digits per class, one two-layer ReLU MLP of "
    "width 256 against the averaged softmax of four of width 113 (the same "
    "parameters, 85,002 against 85,468), each trained 40 epochs of Adam at 1e-3 "
    "from its own seed; test accuracy.",
    paper="Krizhevsky et al. 2012: averaging 5 CNNs cut top-5 error from 18.2% to "
    "16.4% (at five times the parameters).",
    arms=("ensemble", "single"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("ensemble", "single"),),
    run=run_ensemble,
)

EXPANSIONS = ("none", "translate", "rotate", "noise", "crop", "drop", "flip")


def run_augmentation(arm, seed, quick):
    import tensorflow as tf

    x, y, xt, yt = digits(16, seed)
    x, y = small_training_set(x, y, 10, seed)
    keras.utils.set_random_seed(seed)
    model = models.build("vgg", (16, 16, 1), 10, width=8, stages=(1, 1))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
    dataset = dataset.batch(32)
    if arm != "none":
        augment = data.build_augmentation(arm, (16, 16, 1), seed=seed)
        dataset = dataset.map(lambda images, labels: (augment(images), labels))
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(dataset.repeat(), steps_per_epoch=4, epochs=2 if quick else 60, verbose=0)
    scores = model.predict(xt, verbose=0)
    return {"test_accuracy": float(np.mean(np.argmax(scores, -1) == yt))}


AUGMENTATION = Claim(
    name="augmentation",
    words="Data augmentation (expansion): translations, rotations, noise, crops, "
    "dropped pixels, flips.",
    experiment="The project's VGG (width 8, two stages) on 16x16 digits, 10 "
    "examples per class, 240 steps of Adam at 3e-3, with each of the recipe's "
    "expansions alone (components.data.build_augmentation) or none; test accuracy. "
    "Flips change what a digit means: the notes' expansion for natural images.",
    paper="Krizhevsky et al. 2012: translations and flips cut top-1 error by over "
    "1%, and without them the net overfit badly.",
    arms=EXPANSIONS,
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=tuple(Comparison(name, "none") for name in EXPANSIONS[1:]),
    run=run_augmentation,
)


def _pooling_net(arm):
    layers = [keras.Input((16, 16, 1))]
    for filters in (16, 32):
        layers.append(
            keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                activation="relu",
                kernel_initializer="he_normal",
            )
        )
        if arm == "max_pooling":
            layers.append(keras.layers.MaxPooling2D(2))
        else:  # the same downsampling by a learned strided convolution
            layers.append(
                keras.layers.Conv2D(
                    filters, 3, strides=2, padding="same", activation="relu"
                )
            )
    layers += [keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    return keras.Sequential(layers)


def _moved(images, shift=0, angle=0.0, zoom=1.0):
    import tensorflow as tf

    moved = tf.roll(images, shift=shift, axis=2) if shift else tf.constant(images)
    if angle or zoom != 1.0:
        layers = []
        if angle:
            layers.append(
                keras.layers.RandomRotation(
                    (angle / 360, angle / 360), fill_mode="constant"
                )
            )
        if zoom != 1.0:
            # Keras zooms out for positive factors: 1 / zoom - 1 leaves the
            # digit at `zoom` of its size.
            factor = 1 / zoom - 1
            layers.append(
                keras.layers.RandomZoom((factor, factor), fill_mode="constant")
            )
        for layer in layers:
            moved = layer(moved, training=True)
    return np.asarray(moved)


def run_pooling(arm, seed, quick):
    x, y, xt, yt = digits(16, seed)
    x, y = small_training_set(x, y, 50, seed)
    keras.utils.set_random_seed(seed)
    model = _pooling_net(arm)
    result = fit_and_score(
        model,
        x,
        y,
        xt,
        yt,
        epochs=2 if quick else 30,
        seed=seed,
        optimizer=keras.optimizers.Adam(1e-3),
        batch_size=32,
    )
    train_scores = model.predict(x, verbose=0)
    train_accuracy = float(np.mean(np.argmax(train_scores, -1) == y))

    def accuracy(images):
        return float(np.mean(np.argmax(model.predict(images, verbose=0), -1) == yt))

    return {
        **result,
        "train_test_gap": train_accuracy - result["test_accuracy"],
        "multiply_adds": float(flops(model)["total_macs"]),
        "shifted_2px": accuracy(_moved(xt, shift=2)),
        "rotated_15deg": accuracy(_moved(xt, angle=15.0)),
        "scaled_0.8": accuracy(_moved(xt, zoom=0.8)),
    }


POOLING = Claim(
    name="pooling",
    words="Pooling layers help prevent overfitting and reduce computation ... "
    "pooling gives translation, rotation and scaling invariance.",
    experiment="A two-stage ReLU CNN on 16x16 digits, 50 per class, downsampling "
    "by 2x2 max pooling or by a stride-2 3x3 convolution, 30 epochs of Adam at "
    "1e-3: accuracy on test digits shifted by 2 pixels (judged), and the train / "
    "test gap, multiply-adds, and accuracy on test digits rotated 15 degrees or "
    "scaled to 80%.",
    paper="Springenberg et al. 2015 ('Striving for simplicity'): strided "
    "convolutions replace max pooling at no loss on CIFAR-10.",
    arms=("max_pooling", "strided_conv"),
    metric="shifted_2px",
    higher_is_better=True,
    comparisons=(Comparison("max_pooling", "strided_conv"),),
    run=run_pooling,
)


def run_lrn(arm, seed, quick):
    x, y, xt, yt = digits(32, seed)
    keras.utils.set_random_seed(seed)
    model = models.build("alexnet", (32, 32, 1), 10, normalization=arm)
    return fit_and_score(
        model,
        x,
        y,
        xt,
        yt,
        epochs=1 if quick else 10,
        seed=seed,
        optimizer=keras.optimizers.Adam(1e-3),
    )


LRN = Claim(
    name="lrn",
    words="MAX > LRN pooling.",
    experiment="The project's small AlexNet on 32x32 digits with local response "
    "normalization after the first two convolutions (as the paper) or max pooling "
    "alone, 10 epochs of Adam at 1e-3; test accuracy.",
    paper="Simonyan and Zisserman 2015: LRN did not improve VGG-A (10.5% against "
    "10.4% top-1 error) and costs memory and time.",
    arms=("none", "lrn"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("none", "lrn"),),
    run=run_lrn,
)


def _trunk():
    inputs = keras.Input((16, 16, 1))
    x = inputs
    for filters in (16, 32):
        x = keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu",
            kernel_initializer="he_normal",
        )(x)
        x = keras.layers.MaxPooling2D(2)(x)
    return inputs, x


def run_conv_head(arm, seed, quick):
    x, y, xt, yt = digits(16, seed)
    keras.utils.set_random_seed(seed)
    inputs, features = _trunk()
    if arm == "conv_head":  # SqueezeNet's: 1x1 convolution to classes, average
        scores = keras.layers.Conv2D(10, 1)(features)
        outputs = keras.layers.Softmax()(keras.layers.GlobalAveragePooling2D()(scores))
    else:
        hidden = keras.layers.Dense(256, activation="relu")(
            keras.layers.Flatten()(features)
        )
        outputs = keras.layers.Dense(10, activation="softmax")(hidden)
    model = keras.Model(inputs, outputs)
    result = fit_and_score(
        model,
        x,
        y,
        xt,
        yt,
        epochs=2 if quick else 20,
        seed=seed,
        optimizer=keras.optimizers.Adam(1e-3),
    )
    return {**result, "parameters": model.count_params()}


CONV_HEAD = Claim(
    name="conv_head",
    words="Convolutions end to end (SqueezeNet): no fully connected layers.",
    experiment="The same two-stage ReLU CNN trunk on 16x16 digits, ending in a 1x1 "
    "convolution to the ten classes and global average pooling (SqueezeNet's head) "
    "or in Flatten + Dense(256) + Dense(10), 20 epochs of Adam at 1e-3; test "
    "accuracy and parameters.",
    paper="Iandola et al. 2016: AlexNet's accuracy with 50x fewer parameters; Lin "
    "et al. 2014 (Network in Network): global average pooling overfits less than "
    "fully connected layers.",
    arms=("conv_head", "dense_head"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("conv_head", "dense_head", COMPARABLE),),
    run=run_conv_head,
)

CLAIMS = (DROPOUT, ENSEMBLE, AUGMENTATION, POOLING, LRN, CONV_HEAD)
