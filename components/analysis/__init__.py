"""Analysis tools: the doctor (`diagnose`), the learning-rate finder, gradient
checks, conv arithmetic, receptive fields, FLOPs, per-layer summaries and the
FC-to-CONV conversion."""

from components.analysis.conv_arithmetic import conv_output_size, same_padding
from components.analysis.dense_to_conv import dense_to_conv
from components.analysis.doctor import CHECKS, Diagnosis, Finding, diagnose
from components.analysis.flops import flops
from components.analysis.gradient_check import (
    GradientCheckResult,
    gradient_check,
    layer_gradient_check,
)
from components.analysis.layer_gradients import variable_gradients
from components.analysis.lr_finder import LearningRateSweep, find_learning_rate
from components.analysis.model_graph import layer_probe
from components.analysis.receptive_field import receptive_field
from components.analysis.summary import ModelSummary, summarize

__all__ = [
    "CHECKS",
    "Diagnosis",
    "Finding",
    "GradientCheckResult",
    "LearningRateSweep",
    "ModelSummary",
    "conv_output_size",
    "dense_to_conv",
    "diagnose",
    "find_learning_rate",
    "flops",
    "gradient_check",
    "layer_gradient_check",
    "layer_probe",
    "receptive_field",
    "same_padding",
    "summarize",
    "variable_gradients",
]
