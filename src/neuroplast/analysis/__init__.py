"""Statistics for reports: the few formulas the experiments' reports and claims need.

Experiments hold no mathematics (DESIGN.md §1); what their reports compute beyond a mean ± s.e.
(:mod:`neuroplast.experiments.stats_summary`) lives here, one idea per module, each tested
against an independent computation:

* :mod:`~neuroplast.analysis.fits` — the least-squares line of eqs 50–51 and the crossing of a
  piecewise-linear curve (the size at which an accuracy is reached);
* :mod:`~neuroplast.analysis.density` — a Gaussian kernel density estimate for the PDFs of
  Fig. 21;
* :mod:`~neuroplast.analysis.spread` — whether one quantity varies more over seeds than
  another, from paired samples (the log ratio of standard deviations and its standard error);
* :mod:`~neuroplast.analysis.sign_test` — the exact two-sided sign test (which of two settings
  wins more paired comparisons);
* :mod:`~neuroplast.analysis.family_wise` — Holm's step-down test: which of many gaps (paper
  cells missed by more than 2 s.e.) are too large for chance among all the cells compared.

Spearman's rank correlation is :func:`neuroplast.stats.spearman`.
"""

from neuroplast.analysis.density import gaussian_kde, silverman_bandwidth
from neuroplast.analysis.family_wise import holm_rejections, two_sided_p
from neuroplast.analysis.fits import crossing, linear_fit
from neuroplast.analysis.sign_test import sign_test
from neuroplast.analysis.spread import LogRatio, log_sd_ratio

__all__ = ["LogRatio", "crossing", "gaussian_kde", "holm_rejections", "linear_fit",
           "log_sd_ratio", "sign_test", "silverman_bandwidth", "two_sided_p"]
