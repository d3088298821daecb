"""Analysis tools: gradient checks (conv arithmetic and sanity checks to come)."""

from components.analysis.gradient_check import (
    GradientCheckResult,
    gradient_check,
    layer_gradient_check,
)

__all__ = ["GradientCheckResult", "gradient_check", "layer_gradient_check"]
