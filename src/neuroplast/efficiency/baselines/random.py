"""Random scores: the floor every measure must beat.

``random:<seed>`` draws i.i.d. uniform scores in [0, 1) from a generator seeded with the
argument (default 0), so a ranking is reproducible and independent of the model's values.
"""

from __future__ import annotations

import torch

from neuroplast.efficiency.registry import MEASURES, Measure, MeasureContext
from neuroplast.errors import NeuroplastError


def random_scores(ctx: MeasureContext) -> torch.Tensor:
    """Uniform [0, 1) scores from ``torch.Generator().manual_seed(seed)``: (n,) float64."""
    try:
        seed = 0 if ctx.argument is None else int(ctx.argument)
    except ValueError:
        raise NeuroplastError(
            f"random takes an integer seed, e.g. random:3; got random:{ctx.argument}"
        ) from None
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(ctx.stats.width, generator=generator, dtype=torch.float64)


MEASURES.register(Measure(
    name="random",
    description="uniform random scores; argument = seed (random:3), default 0",
    reference="baseline floor",
    compute=random_scores,
))
