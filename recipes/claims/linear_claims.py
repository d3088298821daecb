"""Claims about linear classifiers and their inputs (CS231n's first lessons)."""

from __future__ import annotations

import keras
import numpy as np

from components import models
from components.losses import MulticlassSVM
from recipes.claims import kit
from recipes.claims.claim import COMPARABLE, Claim, Comparison


def _linear(loss, l1=0.0, l2=0.0):
    activation = None if loss == "svm" else "softmax"
    return models.build(
        "linear", (8, 8, 1), 10, l1=l1, l2=l2, classifier_activation=activation
    )


def _epochs(quick):
    return 3 if quick else 30


def run_svm_vs_softmax(arm, seed, quick):
    data = kit.digits(8, seed, standardized=True)
    keras.utils.set_random_seed(seed)
    model = _linear(arm)
    loss = MulticlassSVM() if arm == "svm" else None  # None: cross-entropy
    epochs = _epochs(quick)
    return kit.train(
        model, data, seed=seed, epochs=epochs, rate=0.01, momentum=0.9, loss=loss
    )


SVM_VS_SOFTMAX = Claim(
    name="svm_vs_softmax",
    words="The performance difference between the SVM and Softmax is usually very "
    "small.",
    experiment="The linear classifier on the 8x8 digits (standardized), trained 30 "
    "epochs with SGD + momentum 0.9 at 0.01, multiclass hinge loss vs softmax "
    "cross-entropy; test accuracy.",
    paper="CS231n: 'usually comparable'.",
    arms=("softmax", "svm"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("softmax", "svm", COMPARABLE),),
    run=run_svm_vs_softmax,
)


def _trained_linear(data, seed, quick):
    """The weights and bias of a linear classifier trained on `data`."""
    model = kit.mlp([], output=None, seed=seed)
    logits = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    epochs = _epochs(quick)
    kit.train(
        model, data, seed=seed, epochs=epochs, rate=1e-2, optimizer="adam", loss=logits
    )
    return [np.asarray(w) for w in model.layers[-1].get_weights()]


def run_knn_vs_linear(arm, seed, quick):
    from sklearn.neighbors import KNeighborsClassifier

    if arm == "knn":
        x, y, xt, yt = kit.digits(8, seed, flat=True)
        knn = KNeighborsClassifier(n_neighbors=3).fit(x, y)
        accuracy = float(np.mean(knn.predict(xt) == yt))
        seconds = kit.seconds_per_call(lambda: knn.predict(xt))
    else:
        x, y, xt, yt = data = kit.digits(8, seed, flat=True, standardized=True)
        weights, bias = _trained_linear(data, seed, quick)
        # The trained classifier is one matrix product: the training data is gone.
        accuracy = float(np.mean(np.argmax(xt @ weights + bias, 1) == yt))
        seconds = kit.seconds_per_call(lambda: xt @ weights + bias)
    return {
        "microseconds_per_image": 1e6 * seconds / len(xt),
        "test_accuracy": accuracy,
    }


KNN_VS_LINEAR = Claim(
    name="knn_vs_linear",
    words="Once we learn the parameters we can discard the training data ... "
    "classifying a test image involves a single matrix multiplication, which is "
    "significantly faster than comparing a test image to all training images.",
    experiment="kNN (k = 3, scikit-learn) against the linear classifier (one "
    "matrix product in NumPy) on the 8x8 digits: prediction time per test image "
    "(median of 5 timings) and test accuracy.",
    paper="CS231n: kNN is 'expensive at test time', the linear classifier cheap.",
    arms=("linear", "knn"),
    metric="microseconds_per_image",
    higher_is_better=False,
    comparisons=(Comparison("linear", "knn"),),
    run=run_knn_vs_linear,
)


def _diffuseness(weights):
    """Per class, (sum |w|)^2 / (n sum w^2): 1 for equal weights, 1/n for one."""
    w = np.abs(weights)
    return float(np.mean(w.sum(0) ** 2 / (len(w) * (w**2).sum(0) + 1e-30)))


def run_l1_vs_l2(arm, seed, quick):
    data = kit.digits(8, seed, standardized=True)
    model = _linear("softmax", **{arm: 1e-3})
    epochs = _epochs(quick)
    result = kit.train(
        model, data, seed=seed, epochs=epochs, rate=1e-2, optimizer="adam"
    )
    weights = np.asarray(model.get_layer("predictions").kernel)
    peak = np.abs(weights).max()
    return {
        "diffuseness": _diffuseness(weights),
        "near_zero_fraction": float(np.mean(np.abs(weights) < 1e-2 * peak)),
        **result,
    }


L1_VS_L2 = Claim(
    name="l1_vs_l2",
    words="The L2 penalty prefers smaller and more diffuse weight vectors ... L1 "
    "regularization leads the weight vectors to become sparse.",
    experiment="The linear softmax classifier on the standardized 8x8 digits with "
    "an L1 or an L2 penalty of 1e-3, 30 epochs of Adam at 1e-2; diffuseness of each "
    "class's weights ((sum |w|)^2 / (n sum w^2), 1 when all equal), the share of "
    "weights below 1% of the largest, test accuracy.",
    paper="CS231n, Linear Classify and Neural Networks 2.",
    arms=("l2", "l1"),
    metric="diffuseness",
    higher_is_better=True,
    comparisons=(Comparison("l2", "l1"),),
    run=run_l1_vs_l2,
)


def _preprocess(arm, x, *others):
    """`arm`'s preprocessing, its statistics from the training images `x`."""
    from components.layers import Whitening

    flat = x.reshape(len(x), -1)
    rest = [v.reshape(len(v), -1) for v in others]
    if arm == "none":
        return [flat, *rest]
    if arm == "standardize":
        return kit.standardize(flat, *rest)
    if arm == "min_max":
        low, high = flat.min(0), flat.max(0)
        scale = np.where(high > low, high - low, 1.0)
        return [2 * (v - low) / scale - 1 for v in (flat, *rest)]
    layer = Whitening(method=arm, epsilon=1e-2)
    layer.adapt(flat)
    return [np.asarray(layer(v)) for v in (flat, *rest)]


RATES = (0.001, 0.01, 0.1)


def run_preprocessing(arm, seed, quick):
    """Each arm trains at the best of three rates on the validation split:
    a fixed rate would favour whichever input scale makes its steps larger
    (with plain SGD at 0.01 the raw 0-16 inputs won, 0.950 against 0.888)."""
    x, y, xv, yv, xt, yt = kit.digits_with_validation(8, seed)
    train, validation, test = _preprocess(arm, x * 16.0, xv * 16.0, xt * 16.0)
    best = None
    for rate in RATES[1:2] if quick else RATES:
        model = kit.mlp(
            [64], input_shape=(train.shape[1],), init="he_normal", seed=seed
        )
        # Scored on the validation split: the rate is chosen there.
        result = kit.train(
            model,
            (train, y, validation, yv),
            seed=seed,
            epochs=3 if quick else 20,
            rate=rate,
        )
        if best is None or result["test_accuracy"] > best[0]:
            best = (result["test_accuracy"], rate, kit.accuracy(model, test, yt))
    return {"test_accuracy": best[2], "validation_accuracy": best[0], "rate": best[1]}


PREPROCESSING = Claim(
    name="preprocessing",
    words="Zero-center the data and normalize it ... PCA and whitening are not "
    "used with convolutional networks, but centering and normalization are "
    "important.",
    experiment="A 64-unit ReLU MLP on the digits' raw ink counts (0-16), 20 epochs "
    "of plain SGD at the best of 0.001, 0.01 and 0.1 on the validation split, the "
    "inputs as they are, standardized, min-max scaled to [-1, 1], PCA-whitened and "
    "ZCA-whitened (epsilon 1e-2; statistics from the training split); test "
    "accuracy.",
    paper="CS231n, Neural Networks 2.",
    arms=("none", "standardize", "min_max", "pca", "zca"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("standardize", "none"),),
    run=run_preprocessing,
)

CLAIMS = (SVM_VS_SOFTMAX, KNN_VS_LINEAR, L1_VS_L2, PREPROCESSING)
