"""BN scale: network slimming (Liu et al. 2017, "Learning efficient convolutional networks
through network slimming", ICCV).

A channel followed by BatchNorm is multiplied by its scale γ_k, y_k = γ_k x̂_k + β_k; network
slimming trains with an L1 penalty on γ and prunes the channels with the smallest |γ_k|:

    score_k = |γ_k|.

Here it reads the site's BatchNorm scale (the upstream axis of role ``scale``); a site with no
BatchNorm between producer and consumer is refused. Torch-Pruning's ``BNScaleImportance`` is
the same number divided by its mean over the site (measure ``tp-bn-scale``).
"""

from __future__ import annotations

import torch

from neuroplast.efficiency.baselines.common import no_argument
from neuroplast.efficiency.registry import BATCHNORM_SCALE, MEASURES, Measure, MeasureContext
from neuroplast.errors import NeuroplastError
from neuroplast.sites.site import Site


def bn_scale(site: Site) -> torch.Tensor:
    """|γ_k| of the BatchNorm on the site (the product over several, if any): (n,) float64.

    Raises:
        NeuroplastError: when the site has no BatchNorm scale.
    """
    scales = [axis.tensor.detach().to(torch.float64).abs() for axis in site.upstream
              if axis.role == "scale"]
    if not scales:
        raise NeuroplastError(
            f"measure 'bn-scale' needs a BatchNorm between the producer and the consumer of "
            f"site {site.name!r}, which has none; declare it with between=(bn,) or choose "
            "another measure"
        )
    return torch.stack(scales).prod(dim=0)  # (n,)


def _compute(ctx: MeasureContext) -> torch.Tensor:
    no_argument(ctx, "bn-scale")
    return bn_scale(ctx.target)


MEASURES.register(Measure(
    name="bn-scale",
    description="network slimming: |gamma_k| of the BatchNorm after the producer",
    reference="Liu et al. 2017 (ICCV), network slimming",
    compute=_compute,
    requires=BATCHNORM_SCALE,
))
