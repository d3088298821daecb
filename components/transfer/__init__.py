"""Transfer learning: CNN codes, linear classifiers on them, fine-tuning, regimes."""

from components.transfer.applications import (
    APPLICATIONS,
    application_base,
    preprocessing_layer,
)
from components.transfer.features import (
    default_early_layer,
    feature_extractor,
    find_layer,
)
from components.transfer.freezing import freeze, unfreeze
from components.transfer.linear import (
    LINEAR_LOSSES,
    fit_linear_classifier,
    linear_classifier,
)
from components.transfer.regimes import STRATEGIES, Regime, recommend_regime

__all__ = [
    "APPLICATIONS",
    "LINEAR_LOSSES",
    "STRATEGIES",
    "Regime",
    "application_base",
    "default_early_layer",
    "feature_extractor",
    "find_layer",
    "fit_linear_classifier",
    "freeze",
    "linear_classifier",
    "preprocessing_layer",
    "recommend_regime",
    "unfreeze",
]
