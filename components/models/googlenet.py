"""GoogLeNet: Inception modules and global average pooling, no large dense layers."""

from __future__ import annotations

import keras

from components.checks import check_fits
from components.models.blocks import classifier, conv_bn_act, feature_map, inception
from components.models.options import preset_options
from components.models.registry import register

# The paper's table 1: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj);
# "pool" is a 3x3 / 2 max-pool.
PAPER_MODULES = [
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    "pool",
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    "pool",
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
]

PRESETS = {
    # 32x32 inputs: a 3x3 stem, then five of the paper's modules at `width`/64
    # of their channels (width 16: a quarter), 16 -> 8 -> 4 spatially.
    "small": {
        "stem": [(64, 3, 1)],
        "stem_pool": True,
        "modules": [
            PAPER_MODULES[0],
            PAPER_MODULES[1],
            "pool",
            PAPER_MODULES[3],
            PAPER_MODULES[4],
            "pool",
            PAPER_MODULES[9],
        ],
        "width": 16,
        "common": {"dropout": 0.4},
    },
    # Szegedy et al. (2015) at 224x224: 7x7/2 stem, 1x1 and 3x3 convolutions,
    # nine modules, average pool, dropout 40%, one linear layer.
    "paper": {
        "stem": [(64, 7, 2), "pool", (64, 1, 1), (192, 3, 1)],
        "stem_pool": True,
        "modules": PAPER_MODULES,
        "width": 64,
        "common": {"batch_norm": False, "dropout": 0.4},
    },
}


@register("googlenet", presets=PRESETS)
def googlenet(
    input_shape,
    num_classes,
    preset="small",
    width=None,
    classifier_activation="softmax",
    **common,
):
    """Builds GoogLeNet (Szegedy et al., 2015), without the auxiliary heads.

    The notes on GoogLeNet: it "strayed from the general approach of simply
    stacking conv and pooling layers": nine Inception modules (parallel 1x1,
    3x3, 5x5 and pooling branches, with 1x1 reductions), and "no use of fully
    connected layers! They use an average pool instead, to go from a 7x7x1024
    volume to a 1x1x1024 volume. This saves a huge number of parameters."

    Presets: `"small"` (a 3x3 stem and five modules at a quarter of the
    paper's channels) for 32x32 inputs; `"paper"` at `(224, 224, 3)`: 6.99M
    parameters for 1,000 classes without batch norm (the paper's table 1:
    about 6.8M; torchvision's, with batch norm: 6.6M) and 1.6 G
    multiply-adds (the paper: "1.5 billion").

    Args:
        input_shape: Tuple. `(height, width, channels)`.
        num_classes: Integer. Number of classes.
        preset: `"small"` or `"paper"`.
        width: Integer or `None`. Channels relative to the paper's 64 (64: the
            paper's channel counts; 16: a quarter).
        classifier_activation: String or `None`.
        **common: `CommonOptions` (`dropout` is the rate before the classifier).

    Returns:
        A `keras.Model` named `"googlenet"`.

    Example:

    >>> googlenet((32, 32, 3), 10, width=4).output_shape
    (None, 10)
    """
    settings, options = preset_options("googlenet", preset, PRESETS, common, width)
    width = settings["width"]
    pool = (3, 2, "same")
    stem_steps = [
        pool if s == "pool" else (s[1], s[2], "same") for s in settings["stem"]
    ]
    module_steps = [pool for m in settings["modules"] if m == "pool"]
    check_fits(input_shape, [*stem_steps, pool, *module_steps], "googlenet")

    def scaled(channels):
        return max(1, channels * width // 64)

    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for index, step in enumerate(settings["stem"]):
        if step == "pool":
            x = keras.layers.MaxPooling2D(
                3, 2, padding="same", name=f"stem{index}_pool"
            )(x)
            continue
        filters, kernel, stride = step
        x = conv_bn_act(
            x, scaled(filters), kernel, stride, options=options, name=f"stem{index}"
        )
    x = keras.layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    for index, module in enumerate(settings["modules"]):
        if module == "pool":
            x = keras.layers.MaxPooling2D(3, 2, padding="same", name=f"pool{index}")(x)
            continue
        label, channels = module
        x = inception(
            x, *(scaled(c) for c in channels), options=options, name=f"inception{label}"
        )
    x = feature_map(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if options.dropout:
        x = keras.layers.Dropout(options.dropout, name="dropout")(x)
    outputs = classifier(x, num_classes, options, classifier_activation)
    return keras.Model(inputs, outputs, name="googlenet")
