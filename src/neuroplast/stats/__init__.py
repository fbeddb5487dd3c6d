"""Streaming float64 statistics of sites (paper section 3, eq. 10)."""

from neuroplast.stats.correlation import rankdata, spearman
from neuroplast.stats.moments import Moments, MomentState, RunningMoments, all_reduce
from neuroplast.stats.site import SiteStatistics, collect_site_statistics

__all__ = [
    "MomentState", "Moments", "RunningMoments", "SiteStatistics", "all_reduce",
    "collect_site_statistics", "rankdata", "spearman",
]
