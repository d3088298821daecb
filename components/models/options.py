"""Options common to the builders: activation, batch norm, dropout, penalties,
initialization policy and the ReLU-after-pool trick."""

from __future__ import annotations

import dataclasses

import keras

from components.checks import (
    check_non_negative,
    check_positive_int,
    check_rate,
    invalid_value,
)
from components.layers import Maxout, RReLU

ACTIVATIONS = (
    "relu",
    "leaky_relu",
    "prelu",
    "rrelu",
    "sigmoid",
    "tanh",
    "elu",
    "maxout",
)
INITS = ("default", "he", "glorot", "lecun", "small_random", "zeros")
# max(f(a), f(b)) = f(max(a, b)) for every non-decreasing f, so these commute
# with max-pooling; PReLU (a learned slope may turn negative), RReLU (a random
# slope per element) and Maxout (changes the width) do not qualify.
_MONOTONE = ("relu", "leaky_relu", "sigmoid", "tanh", "elu")


@dataclasses.dataclass(frozen=True)
class CommonOptions:
    """Validated options shared by the builders.

    Args:
        activation: String. One of `ACTIVATIONS`. `maxout` is for dense
            stacks (`mlp`) only.
        batch_norm: Boolean. Batch norm between each linear layer and its
            non-linearity (the notes: "immediately after fully connected
            layers (or convolutional layers), and before non-linearities").
        dropout: Float in [0, 1). Dropout after the large (dense) layers.
        l1: Float >= 0. L1 penalty on every kernel.
        l2: Float >= 0. L2 penalty on every kernel.
        init: String. `"default"`: He on convolutions, Glorot on dense layers,
            as the notes advise ("use Xavier init on FCN (not on CNN)", "He et
            al. for ReLU"); `"he"`, `"glorot"`, `"lecun"` (the notes'
            `randn(n) / sqrt(n)`) everywhere; `"small_random"`: the notes'
            `0.01 * randn`; `"zeros"`: the notes' counter-example (every
            neuron computes, and learns, the same thing).
        relu_after_pool: Boolean. Apply the non-linearity after max-pooling
            rather than before (the notes: "apply ReLU after max pooling, saves
            computation"): the same outputs on the same weights, on 4x fewer
            activations after a 2x2 pool.
    """

    activation: str = "relu"
    batch_norm: bool = True
    dropout: float = 0.5
    l1: float = 0.0
    l2: float = 0.0
    init: str = "default"
    relu_after_pool: bool = False

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                invalid_value(
                    "activation", self.activation, f"one of {', '.join(ACTIVATIONS)}"
                )
            )
        if self.init not in INITS:
            raise ValueError(
                invalid_value("init", self.init, f"one of {', '.join(INITS)}")
            )
        check_rate("dropout", self.dropout)
        check_non_negative("l1", self.l1)
        check_non_negative("l2", self.l2)
        if self.relu_after_pool and self.activation not in _MONOTONE:
            raise ValueError(
                "Invalid value received for argument `relu_after_pool`. It needs an "
                f"activation that commutes with max-pooling ({', '.join(_MONOTONE)}). "
                f"Received: activation={self.activation!r}"
            )

    @classmethod
    def from_kwargs(cls, builder, kwargs):
        """Builds options from a builder's `**kwargs`, naming unknown ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ValueError(
                f"Unknown option(s) {', '.join(unknown)} for model {builder!r}."
            )
        return cls(**kwargs)

    def no_conv_activation(self):
        if self.activation == "maxout":
            raise ValueError(
                "Invalid value received for argument `activation`. 'maxout' changes "
                "the width of a layer and is only offered by the 'mlp' builder."
            )

    def initializer(self, kind):
        """Kernel initializer for a `"conv"` or `"dense"` layer."""
        if self.init == "default":
            return "he_normal" if kind == "conv" else "glorot_uniform"
        if self.init == "small_random":
            return keras.initializers.RandomNormal(stddev=0.01)
        return {
            "he": "he_normal",
            "glorot": "glorot_uniform",
            "lecun": "lecun_normal",
            "zeros": "zeros",
        }[self.init]

    def regularizer(self):
        if self.l1 or self.l2:
            return keras.regularizers.L1L2(l1=self.l1, l2=self.l2)
        return None

    def activation_layer(self, name=None, conv=True):
        """A fresh non-linearity layer (learned and random ones carry state)."""
        if self.activation == "leaky_relu":
            return keras.layers.LeakyReLU(negative_slope=0.01, name=name)
        if self.activation == "prelu":
            # One slope per channel, shared over the spatial positions.
            return keras.layers.PReLU(shared_axes=[1, 2] if conv else None, name=name)
        if self.activation == "rrelu":
            return RReLU(name=name)
        return keras.layers.Activation(self.activation, name=name)

    def maxout(self, units, name=None):
        return Maxout(units, name=name)


def preset_options(builder, preset, presets, overrides, width=None):
    """Returns `(settings, CommonOptions)` for a convolutional builder's preset.

    `presets` maps a preset name to a dict of its own settings and its
    defaults for the common options (under `"common"`); `overrides` (the
    builder's `**common`) win over those defaults, and `width`, when given,
    over the preset's `"width"`.
    """
    if preset not in presets:
        raise ValueError(
            invalid_value("preset", preset, f"one of {', '.join(presets)}")
        )
    settings = dict(presets[preset])
    common = {**settings.pop("common", {}), **overrides}
    if "width" in settings:
        chosen = settings["width"] if width is None else width
        settings["width"] = check_positive_int("width", chosen)
    options = CommonOptions.from_kwargs(builder, common)
    options.no_conv_activation()
    return settings, options
