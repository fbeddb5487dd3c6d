"""The paper's efficiencies: connection cut / probability E_k (eq. 28) and covariance E'_k (eq. 17).

Zero variances (REFERENCE §1.4, §1.3), defined so that no NaN or inf reaches a ranking:

* a neuron whose output never varies (C_kk = 0, e.g. an MNIST border pixel) has E_k = 0;
* a consumer neuron whose output never varies (C_ii ≤ ``ZERO_VARIANCE``) carries no signal a
  dying neuron could destroy; its term is left out of the sum of eq. 28;
* when the consumer is the output layer (no element-wise activation: softmax is in the loss),
  f' = 1 and C_ii is the variance of the logits — a choice the paper never needed;
* in E'_k eigenvalues are known only to about ε_λ = n · eps · λ_max (float64 eps), so they are
  clipped from below at ε_λ, not at 0 (:func:`eigenvalue_floor`). Clipping at 0 would turn the
  round-off leakage of a neuron into a null eigenvector (|v_k| ~ 1e-8) into a false E'_k = 0:
  on the MNIST pixels of an untrained N4, 47 pixels whose best linear relation with the
  others leaves a residual variance > 1e-12 got E'_k = 0 that way.
  Eigenvector components with v² ≤ ``ZERO_COMPONENT`` are skipped. A zero-variance neuron (or
  an exact linear combination of its layer-mates) has E'_k ≈ ε_λ / v_k², i.e. ≈ 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from neuroplast.efficiency.registry import MEASURES, Measure, MeasureContext
from neuroplast.errors import NeuroplastError
from neuroplast.sites.resolve import resolve_site
from neuroplast.sites.site import Site
from neuroplast.stats.site import SiteStatistics

ZERO_VARIANCE = 1e-12
ZERO_COMPONENT = 1e-24


def _check_statistics(model: nn.Module, site: Site | str, stats: SiteStatistics) -> Site:
    target = resolve_site(model, site)
    if stats.site != target.name or stats.width != target.width \
            or stats.consumer_var.numel() != target.consumer_width:
        raise NeuroplastError(
            f"the statistics are for site {stats.site!r} with {stats.width} neurons, but site "
            f"{target.name!r} of the model has {target.width} (consumer width "
            f"{target.consumer_width}); collect the statistics again"
        )
    return target


def consumer_gain(model: nn.Module, site: Site | str, stats: SiteStatistics) -> torch.Tensor:
    """g_i = f'_i(ȳ_i)² / C_ii for every consumer neuron i (0 where C_ii is zero); (m,) float64.

    The weights of eq. 28 and of A2's coefficients (REFERENCE §1.8).
    """
    consumer_activation = _check_statistics(model, site, stats).consumer_activation
    y_bar = stats.consumer_preactivation_at_mean  # (m,)
    if consumer_activation is None:
        slope = torch.ones_like(y_bar)
    else:
        slope = consumer_activation.derivative(y_bar)
    varying = stats.consumer_var > ZERO_VARIANCE
    safe_var = torch.where(varying, stats.consumer_var, torch.ones_like(stats.consumer_var))
    return torch.where(varying, slope**2 / safe_var, torch.zeros_like(safe_var))


def squared_outgoing(site: Site) -> torch.Tensor:
    """Σ_δ w_ikδ², the squared outgoing weights of each neuron summed over the consumer's
    offsets (kernel positions, flattened positions; one for a Linear): (m, n) float64."""
    return (site.consumer_weight().to(torch.float64) ** 2).sum(dim=2)


def connection_cut_efficiency(model: nn.Module, site: Site | str,
                              stats: SiteStatistics) -> torch.Tensor:
    """E_k = C_kk · Σ_i Σ_δ w_ikδ² f'_i(ȳ_i)² / C_ii (eq. 28; appendix A.1, eqs 71–72).

    C_kk is the variance of neuron k's value, C_ii the variance of consumer output i, ȳ_i the
    consumer's mean pre-activation (eq. 24), w_ikδ the outgoing weights; for a consumer that
    reads several offsets of neuron k (a convolution) the sum runs over them too, since
    cutting k removes its contribution at every offset.
    Returns (n,) float64, finite and ≥ 0; 0 for a constant neuron.
    """
    target = _check_statistics(model, site, stats)
    gain = consumer_gain(model, target, stats)  # (m,)
    return stats.var * (gain @ squared_outgoing(target))  # (n,)


@dataclass(frozen=True)
class CovarianceEfficiency:
    """E'_k with the minimising eigenpair of each neuron (A3 needs it).

    Attributes:
        values: (n,) E'_k = min_i λ_i / (v_k^(i))².
        eigen_index: (n,) the minimising i for each k, so that
            ``values[k] == eigenvalues[eigen_index[k]] / eigenvectors[k, eigen_index[k]]**2``.
        eigenvalues: (n,) λ, ascending, clipped from below at :func:`eigenvalue_floor`.
        eigenvectors: (n, n) column i is v^(i).
    """

    values: torch.Tensor
    eigen_index: torch.Tensor
    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor

    def eigenvector_for(self, k: int) -> torch.Tensor:
        """v^(p) with p the eigenvector minimising neuron k's ratio."""
        return self.eigenvectors[:, self.eigen_index[k]]


def eigenvalue_floor(eigenvalues: torch.Tensor) -> float:
    """ε_λ = n · eps · max(λ): the accuracy of the eigenvalues of a symmetric n × n matrix.

    Eigenvalues below it are indistinguishable from 0 and are raised to it, so that a ratio
    λ_i / v_k² never divides an exact 0 by round-off (see the module docstring).
    """
    n = eigenvalues.numel()
    largest = float(eigenvalues.max().clamp_min(0.0)) if n else 0.0
    return n * torch.finfo(torch.float64).eps * largest


def covariance_efficiency(cov: torch.Tensor) -> CovarianceEfficiency:
    """E'_k = min_i λ_i / (v_k^(i))² from the eigen-decomposition of C (eq. 17, eq. 80).

    C v^(i) = λ_i v^(i) with orthonormal v. Eigenvalues are clipped from below at
    :func:`eigenvalue_floor`; components with (v_k^(i))² ≤ ``ZERO_COMPONENT`` are skipped
    (the ratio would be +∞). The minimising eigenpair of each neuron is recorded (A3 uses it).
    """
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or not torch.isfinite(cov).all():
        raise NeuroplastError(
            "the covariance must be a finite square matrix; collect the statistics with "
            "covariance=True on finite data"
        )
    eigenvalues, eigenvectors = torch.linalg.eigh(cov.to(torch.float64))
    eigenvalues = eigenvalues.clamp_min(eigenvalue_floor(eigenvalues))  # (n,)
    squared = eigenvectors**2  # (n_neurons, n_eigen)
    ratios = torch.where(
        squared > ZERO_COMPONENT,
        eigenvalues.unsqueeze(0) / squared.clamp_min(ZERO_COMPONENT),
        torch.full_like(squared, torch.inf),
    )
    values, eigen_index = ratios.min(dim=1)
    return CovarianceEfficiency(values, eigen_index, eigenvalues, eigenvectors)


MEASURES.register(Measure(
    name="connection",
    description="connection cut / probability efficiency E_k (A1, A2)",
    reference="eq. 28; appendix A.1 eqs 71-72",
    compute=lambda ctx: connection_cut_efficiency(ctx.model, ctx.target, ctx.stats),
))

MEASURES.register(Measure(
    name="covariance",
    description="covariance efficiency E'_k = min_i lambda_i / (v_k^(i))^2 (A3)",
    reference="eq. 17; appendix A.3 eq. 80",
    compute=lambda ctx: covariance_efficiency(_cov(ctx)).values,
    needs_covariance=True,
))


def _cov(ctx: MeasureContext) -> torch.Tensor:
    if ctx.stats.cov is None:
        raise NeuroplastError(
            "the covariance efficiency needs the site covariance; collect statistics with "
            "covariance=True"
        )
    return ctx.stats.cov
