"""Analysis tools: gradient checks, conv arithmetic, receptive fields, FLOPs,
per-layer summaries and the FC-to-CONV conversion."""

from components.analysis.conv_arithmetic import conv_output_size, same_padding
from components.analysis.dense_to_conv import dense_to_conv
from components.analysis.flops import flops
from components.analysis.gradient_check import (
    GradientCheckResult,
    gradient_check,
    layer_gradient_check,
)
from components.analysis.receptive_field import receptive_field
from components.analysis.summary import ModelSummary, summarize

__all__ = [
    "GradientCheckResult",
    "ModelSummary",
    "conv_output_size",
    "dense_to_conv",
    "flops",
    "gradient_check",
    "layer_gradient_check",
    "receptive_field",
    "same_padding",
    "summarize",
]
