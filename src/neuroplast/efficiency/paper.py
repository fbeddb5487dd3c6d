"""The paper's efficiencies: connection cut / probability E_k (eq. 28) and covariance E'_k (eq. 17).

Zero variances (REFERENCE §1.4, §1.3), defined so that no NaN or inf reaches a ranking:

* a neuron whose output never varies (C_kk = 0, e.g. an MNIST border pixel) has E_k = 0;
* a consumer neuron whose output never varies (C_ii ≤ ``ZERO_VARIANCE``) carries no signal a
  dying neuron could destroy; its term is left out of the sum of eq. 28;
* when the consumer is the output layer (no element-wise activation: softmax is in the loss),
  f' = 1 and C_ii is the variance of the logits — a choice the paper never needed;
* in E'_k eigenvalues are clipped at 0 and eigenvector components with v² ≤ ``ZERO_COMPONENT``
  are skipped; a zero-variance neuron is its own zero-eigenvalue eigenvector, so E'_k = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuroplast.efficiency.registry import MEASURES, Measure, MeasureContext
from neuroplast.stats.site import SiteStatistics

ZERO_VARIANCE = 1e-12
ZERO_COMPONENT = 1e-24


def consumer_gain(model, site: str, stats: SiteStatistics) -> torch.Tensor:
    """g_i = f'_i(ȳ_i)² / C_ii for every consumer neuron i (0 where C_ii is zero); (m,) float64.

    The weights of eq. 28 and of A2's coefficients (REFERENCE §1.8).
    """
    consumer_activation = model.site(site).consumer_activation
    y_bar = stats.consumer_preactivation_at_mean  # (m,)
    if consumer_activation is None:
        slope = torch.ones_like(y_bar)
    else:
        slope = consumer_activation.derivative(y_bar)
    varying = stats.consumer_var > ZERO_VARIANCE
    safe_var = torch.where(varying, stats.consumer_var, torch.ones_like(stats.consumer_var))
    return torch.where(varying, slope**2 / safe_var, torch.zeros_like(safe_var))


def connection_cut_efficiency(model, site: str, stats: SiteStatistics) -> torch.Tensor:
    """E_k = C_kk · Σ_i w_ik² f'_i(ȳ_i)² / C_ii (eq. 28; appendix A.1, eqs 71–72).

    C_kk is the variance of neuron k's output, C_ii the variance of consumer neuron i's output,
    ȳ_i the consumer's pre-activation at the mean input (eq. 24), w_ik the outgoing weights.
    """
    weight = model.site(site).consumer.weight.detach().to(torch.float64)  # (m, n)
    gain = consumer_gain(model, site, stats)  # (m,)
    return stats.var * (gain @ weight**2)  # (n,)


@dataclass(frozen=True)
class CovarianceEfficiency:
    """E'_k with the minimising eigenpair of each neuron (A3 needs it).

    Attributes:
        values: (n,) E'_k = min_i λ_i / (v_k^(i))².
        eigen_index: (n,) the minimising i for each k.
        eigenvalues: (n,) λ, ascending, clipped at 0.
        eigenvectors: (n, n) column i is v^(i).
    """

    values: torch.Tensor
    eigen_index: torch.Tensor
    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor

    def eigenvector_for(self, k: int) -> torch.Tensor:
        """v^(p) with p the eigenvector minimising neuron k's ratio."""
        return self.eigenvectors[:, self.eigen_index[k]]


def covariance_efficiency(cov: torch.Tensor) -> CovarianceEfficiency:
    """E'_k = min_i λ_i / (v_k^(i))² from the eigen-decomposition of C (eq. 17, eq. 80)."""
    eigenvalues, eigenvectors = torch.linalg.eigh(cov.to(torch.float64))
    eigenvalues = eigenvalues.clamp_min(0.0)  # (n,)
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
    compute=lambda ctx: connection_cut_efficiency(ctx.model, ctx.site, ctx.stats),
))

MEASURES.register(Measure(
    name="covariance",
    description="covariance efficiency E'_k = min_i lambda_i / (v_k^(i))^2 (A3)",
    reference="eq. 17; appendix A.3 eq. 80",
    compute=lambda ctx: covariance_efficiency(_cov(ctx)).values,
    needs_covariance=True,
))


def _cov(ctx: MeasureContext) -> torch.Tensor:
    assert ctx.stats.cov is not None  # guaranteed by efficiency()
    return ctx.stats.cov
