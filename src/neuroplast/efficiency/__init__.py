"""Efficiency measures: the paper's E_k and E'_k, our conditional E^c_k and a registry."""

from neuroplast.efficiency.conditional import conditional_efficiency
from neuroplast.efficiency.paper import (
    CovarianceEfficiency,
    connection_cut_efficiency,
    consumer_gain,
    covariance_efficiency,
)
from neuroplast.efficiency.registry import (
    MEASURES,
    Measure,
    MeasureContext,
    MeasureRegistry,
    efficiency,
)

__all__ = [
    "MEASURES", "CovarianceEfficiency", "Measure", "MeasureContext", "MeasureRegistry",
    "conditional_efficiency", "connection_cut_efficiency", "consumer_gain",
    "covariance_efficiency", "efficiency",
]

import neuroplast.efficiency.baselines  # noqa: E402,F401  (registers the baseline measures)
