"""Claims about convolutional networks: filters, pooling, batch norm, activations."""

from __future__ import annotations

import keras
import numpy as np

from recipes.claims import kit
from recipes.claims.claim import Claim, Comparison


def small_filter_net(arm, channels, seed=None):
    """A 3x3 stem, then three 3x3 convolutions or one 7x7: the same 7x7
    receptive field."""
    # No batch norm: at a constant rate its moving statistics lagged the
    # three-layer stack's (training loss 0.11, test accuracy at chance), a
    # fault of the protocol rather than of the filters; VGG had none either.
    size, count = (3, 3) if arm == "three_3x3" else (7, 1)
    return kit.cnn(
        [channels] * (1 + count),
        kernel_size=[3] + [size] * count,
        init=["glorot_uniform"] + ["he_normal"] * count,
        seed=seed,
    )


def stack_weights(model):
    """Convolution weights of the compared stack (the first layer left out)."""
    convs = [x for x in model.layers if isinstance(x, keras.layers.Conv2D)][1:]
    return int(sum(np.prod(x.kernel.shape) for x in convs))


def run_small_filters(arm, seed, quick):
    data = kit.digits(16, seed)
    model = small_filter_net(arm, 8 if quick else 16, seed)
    epochs = 2 if quick else 15
    result = kit.train(
        model, data, seed=seed, epochs=epochs, rate=3e-3, optimizer="adam"
    )
    return {"stack_weights": stack_weights(model), **result}


SMALL_FILTERS = Claim(
    name="small_filters",
    words="Prefer a stack of small filter CONV to one large receptive field CONV "
    "layer ... three 3x3 CONV layers have 27C^2 parameters against 49C^2, and more "
    "non-linearities.",
    experiment="On 16x16 digits, a 3x3 stem of C = 16 channels, then three 3x3 "
    "ReLU convolutions or one 7x7 (He init, no batch norm; the same 7x7 receptive "
    "field), global average pooling and softmax; 15 epochs of Adam at 3e-3; test "
    "accuracy, and the stack's kernel weights (27C^2 against 49C^2).",
    paper="Simonyan and Zisserman 2015 (VGG): stacks of 3x3 beat a single 7x7 "
    "(7.8% against 8.4% top-5 error).",
    arms=("three_3x3", "one_7x7"),
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(Comparison("three_3x3", "one_7x7"),),
    run=run_small_filters,
)


def _relu_pool(order):
    layers = [keras.layers.ReLU(), keras.layers.MaxPooling2D(2)]
    return keras.Sequential(layers if order == "relu_then_pool" else layers[::-1])


def run_relu_after_pool(arm, seed, quick):
    """The two orders compute the same outputs (max commutes with a monotonic
    function); pooling first applies the ReLU to a quarter of the values."""
    rng = np.random.default_rng(seed)
    size = 16 if quick else 64
    maps = rng.normal(size=(32, size, size, 32)).astype("float32")
    this, other = (
        _relu_pool(arm),
        _relu_pool("pool_then_relu" if arm == "relu_then_pool" else "relu_then_pool"),
    )
    difference = float(np.abs(np.asarray(this(maps)) - np.asarray(other(maps))).max())
    call = keras.ops.convert_to_numpy
    seconds = kit.seconds_per_call(lambda: call(this(maps)), repeats=3 if quick else 15)
    return {"milliseconds": 1000 * seconds, "max_difference": difference}


RELU_AFTER_POOL = Claim(
    name="relu_after_pool",
    words="Apply ReLU after max pooling: the same result, with fewer operations "
    "(max pooling and ReLU commute).",
    experiment="ReLU then 2x2 max pooling against pooling then ReLU on 32 random "
    "64x64x32 feature maps: the largest difference between their outputs, and the "
    "median time of 15 forward passes (eager Keras on the CPU).",
    paper="A property of max and ReLU (both monotonic); no paper figure.",
    arms=("pool_then_relu", "relu_then_pool"),
    metric="milliseconds",
    higher_is_better=False,
    comparisons=(Comparison("pool_then_relu", "relu_then_pool"),),
    run=run_relu_after_pool,
)


def run_batch_norm(arm, seed, quick):
    """Steps (batches of 64) until the training accuracy over the last 20 steps
    first reaches 95%, at one plain SGD rate for both."""
    x, y, xt, yt = kit.digits(16, seed)
    model = kit.cnn(
        [16, 32],
        init="he_normal",
        activation=keras.layers.ReLU,
        batch_norm=arm == "batch_norm",
        downsample="max_pooling",
        head="flatten",
        seed=seed,
    )
    kit.compile_model(model, rate=0.02)
    rng = np.random.default_rng(seed)
    limit = 150 if quick else 1500
    recent, reached = [], limit
    for step in range(1, limit + 1):
        index = rng.choice(len(x), 64, replace=False)
        logs = model.train_on_batch(x[index], y[index], return_dict=True)
        recent = (recent + [float(logs["accuracy"])])[-20:]
        if len(recent) == 20 and np.mean(recent) >= 0.95:
            reached = step
            break
    return {"steps_to_95": reached, "test_accuracy": kit.accuracy(model, xt, yt)}


BATCH_NORM = Claim(
    name="batch_norm",
    words="Always use batch normalisation.",
    experiment="A two-stage CNN (16 and 32 3x3 filters, He init, max pooling) on "
    "16x16 digits, with and without batch norm before each ReLU, plain SGD at 0.02, "
    "batches of 64: the steps until the last 20 batches' training accuracy "
    "averages 95% (at most 1500), and the test accuracy there.",
    paper="Ioffe and Szegedy 2015: the same accuracy in 14x fewer steps "
    "(Inception on ImageNet).",
    arms=("batch_norm", "plain"),
    metric="steps_to_95",
    higher_is_better=False,
    comparisons=(Comparison("batch_norm", "plain"),),
    run=run_batch_norm,
)

ACTIVATIONS = ("relu", "prelu", "leaky_relu", "elu", "tanh", "sigmoid")
# Each activation a layer of its own after its Dense: PReLU's has weights.
ACTIVATION_LAYERS = {
    "prelu": keras.layers.PReLU,
    "leaky_relu": lambda: keras.layers.LeakyReLU(0.01),
}


def run_activations(arm, seed, quick):
    data = kit.digits(8, seed, flat=True)
    model = kit.mlp(
        [128] * 4,
        init="glorot_normal" if arm in ("tanh", "sigmoid") else "he_normal",
        activation=ACTIVATION_LAYERS.get(arm, lambda: keras.layers.Activation(arm)),
        seed=seed,
    )
    epochs = 2 if quick else 10
    return kit.train(model, data, seed=seed, epochs=epochs, rate=0.05, momentum=0.9)


ACTIVATION_CLAIM = Claim(
    name="activations",
    words="ReLU/PReLU > everything else; never use sigmoid.",
    experiment="A 4-layer, 128-unit MLP on the 8x8 digits (He init for the ReLU "
    "family, Glorot for tanh and sigmoid), 10 epochs of SGD + momentum 0.9 at "
    "0.05, one activation throughout; test accuracy. ReLU is compared with tanh "
    "and sigmoid, PReLU with ReLU.",
    paper="Krizhevsky et al. 2012: ReLU reached 25% training error on CIFAR-10 6x "
    "faster than tanh; He et al. 2015: PReLU 1.2 points better than ReLU on "
    "ImageNet.",
    arms=ACTIVATIONS,
    metric="test_accuracy",
    higher_is_better=True,
    comparisons=(
        Comparison("relu", "tanh"),
        Comparison("relu", "sigmoid"),
        Comparison("prelu", "relu"),
    ),
    run=run_activations,
)

CLAIMS = (SMALL_FILTERS, RELU_AFTER_POOL, BATCH_NORM, ACTIVATION_CLAIM)
