"""Claims about generalization: dropout, ensembles, augmentation, pooling, LRN."""

from __future__ import annotations

import keras
import numpy as np

from components import data, models
from components.analysis import flops
from recipes.claims import kit
from recipes.claims.claim import COMPARABLE, Claim, Comparison


def run_dropout(arm, seed, quick):
    """Test accuracy along a long run on 20 examples per class."""
    x, y, xt, yt = kit.digits(8, seed, flat=True, standardized=True, per_class=20)
    model = kit.mlp(
        [512, 512],
        init="he_normal",
        dropout=0.5 if arm == "dropout" else 0.0,
        seed=seed,
    )
    kit.compile_model(model, rate=0.01, momentum=0.9)
    epochs = 4 if quick else 300
    checkpoints = {}
    for epoch in range(epochs // 4, epochs + 1, epochs // 4):
        model.fit(x, y, epochs=epochs // 4, batch_size=50, verbose=0)
        checkpoints[epoch] = kit.accuracy(model, xt, yt)
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


# How the ensemble and pooling claims train on their small training sets.
SMALL_SET = {"rate": 1e-3, "optimizer": "adam", "batch_size": 32}

# Four members of width 113 hold about the parameters of one of width 256
# (85,468 against 85,002): equal parameters, and each trains the same epochs.
WIDE, MEMBERS, NARROW = 256, 4, 113


def run_ensemble(arm, seed, quick):
    data = kit.digits(8, seed, flat=True, standardized=True, per_class=40)
    xt, yt = data[2:]
    widths = [WIDE] if arm == "single" else [NARROW] * MEMBERS
    epochs = 2 if quick else 40
    scores, parameters = 0.0, 0
    for index, width in enumerate(widths):
        member_seed = seed * 100 + index
        model = kit.mlp([width, width], seed=member_seed)
        kit.train(model, data, seed=member_seed, epochs=epochs, **SMALL_SET)
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

    x, y, xt, yt = kit.digits(16, seed, per_class=10)
    keras.utils.set_random_seed(seed)
    model = models.build("vgg", (16, 16, 1), 10, width=8, stages=(1, 1))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
    dataset = dataset.batch(32)
    if arm != "none":
        augment = data.build_augmentation(arm, (16, 16, 1), seed=seed)
        dataset = dataset.map(lambda images, labels: (augment(images), labels))
    kit.compile_model(model, rate=3e-3, optimizer="adam")
    model.fit(dataset.repeat(), steps_per_epoch=4, epochs=2 if quick else 60, verbose=0)
    return {"test_accuracy": kit.accuracy(model, xt, yt)}


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
    """Max pooling against the same downsampling by a learned strided
    convolution (`arm` names `kit.cnn`'s `downsample`)."""
    x, y, xt, yt = data = kit.digits(16, seed, per_class=50)
    model = kit.cnn(
        [16, 32], init="he_normal", downsample=arm, head="flatten", seed=seed
    )
    epochs = 2 if quick else 30
    result = kit.train(model, data, seed=seed, epochs=epochs, **SMALL_SET)
    return {
        **result,
        "train_test_gap": kit.accuracy(model, x, y) - result["test_accuracy"],
        "multiply_adds": float(flops(model)["total_macs"]),
        "shifted_2px": kit.accuracy(model, _moved(xt, shift=2), yt),
        "rotated_15deg": kit.accuracy(model, _moved(xt, angle=15.0), yt),
        "scaled_0.8": kit.accuracy(model, _moved(xt, zoom=0.8), yt),
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
    keras.utils.set_random_seed(seed)
    model = models.build("alexnet", (32, 32, 1), 10, normalization=arm)
    data = kit.digits(32, seed)
    epochs = 1 if quick else 10
    return kit.train(model, data, seed=seed, epochs=epochs, rate=1e-3, optimizer="adam")


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


HEADS = {
    "conv_head": {"head": "conv"},
    "dense_head": {"head": "flatten", "hidden": [256]},
}


def run_conv_head(arm, seed, quick):
    data = kit.digits(16, seed)
    model = kit.cnn(
        [16, 32], init="he_normal", downsample="max_pooling", seed=seed, **HEADS[arm]
    )
    epochs = 2 if quick else 20
    result = kit.train(
        model, data, seed=seed, epochs=epochs, rate=1e-3, optimizer="adam"
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
