"""Model builders behind one registry: `build(name, input_shape, num_classes)`."""

# Importing a builder module registers it.
from components.models import alexnet as _alexnet  # noqa: F401
from components.models import googlenet as _googlenet  # noqa: F401
from components.models import mlp as _mlp  # noqa: F401
from components.models import squeezenet as _squeezenet  # noqa: F401
from components.models import vgg as _vgg  # noqa: F401
from components.models.blocks import (
    classifier,
    conv_bn_act,
    dense_bn_act,
    fire,
    inception,
)
from components.models.options import ACTIVATIONS, INITS, CommonOptions
from components.models.registry import (
    available,
    build,
    builder_options,
    preset_settings,
    register,
)

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "CommonOptions",
    "available",
    "build",
    "builder_options",
    "classifier",
    "conv_bn_act",
    "dense_bn_act",
    "fire",
    "inception",
    "preset_settings",
    "register",
]
