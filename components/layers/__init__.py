"""Keras layers from the notes that Keras 3 does not ship.

Keras already has `Dropout` (inverted), `PReLU`, `LeakyReLU`, `Normalization`
and the `MaxNorm` constraint: use those.
"""

from components.layers.lrn import LocalResponseNormalization
from components.layers.maxout import Maxout
from components.layers.min_max_scaling import MinMaxScaling
from components.layers.rrelu import RReLU
from components.layers.vanilla_dropout import VanillaDropout
from components.layers.whitening import Whitening

__all__ = [
    "LocalResponseNormalization",
    "Maxout",
    "MinMaxScaling",
    "RReLU",
    "VanillaDropout",
    "Whitening",
]
