"""Model builders behind one registry: `build(name, input_shape, num_classes)`."""

# Importing a builder module registers it.
from components.models import vgg as _vgg  # noqa: F401
from components.models.blocks import conv_bn_act, dense_bn_act
from components.models.registry import available, build, builder_options, register

__all__ = [
    "available",
    "build",
    "builder_options",
    "conv_bn_act",
    "dense_bn_act",
    "register",
]
