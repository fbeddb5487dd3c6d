"""Streaming first and second moments in float64 with a stable merge (Chan et al. 1979).

Pure ``update`` / ``merge`` / ``compute`` functions on an immutable :class:`MomentState`, so the
result does not depend on batch size or order, and states from several processes can be merged
(:func:`all_reduce` under ``torch.distributed``). Variances are population variances (divide by
the count), as the paper's ⟨Δx²⟩ (eq. 10).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

DTYPE = torch.float64


@dataclass(frozen=True)
class MomentState:
    """Count, mean and centred sums of squares (and optionally cross-products) of n variables.

    Attributes:
        count: number of observations merged so far.
        mean: (n,) running mean.
        m2: (n,) sum of squared deviations from the mean.
        comoment: (n, n) sum of outer products of deviations, or None if not tracked.
    """

    count: int
    mean: torch.Tensor
    m2: torch.Tensor
    comoment: torch.Tensor | None


@dataclass(frozen=True)
class Moments:
    """Final statistics: mean, population variance and (optionally) covariance."""

    count: int
    mean: torch.Tensor  # (n,)
    var: torch.Tensor  # (n,)
    cov: torch.Tensor | None  # (n, n)


def init(n: int, *, covariance: bool = False) -> MomentState:
    """The empty state for ``n`` variables."""
    return MomentState(
        0,
        torch.zeros(n, dtype=DTYPE),
        torch.zeros(n, dtype=DTYPE),
        torch.zeros(n, n, dtype=DTYPE) if covariance else None,
    )


def from_batch(batch: torch.Tensor, *, covariance: bool = False) -> MomentState:
    """The state of one batch (b, n), computed directly in float64."""
    x = batch.detach().to(DTYPE).reshape(-1, batch.shape[-1])  # (b, n)
    count = x.shape[0]
    if count == 0:
        return init(x.shape[1], covariance=covariance)
    mean = x.mean(dim=0)
    centred = x - mean  # (b, n)
    m2 = (centred * centred).sum(dim=0)
    comoment = centred.T @ centred if covariance else None  # (n, n)
    return MomentState(count, mean, m2, comoment)


def merge(a: MomentState, b: MomentState) -> MomentState:
    """Combine two states as if their observations had been seen in one pass (Chan's formula)."""
    if a.count == 0:
        return b
    if b.count == 0:
        return a
    count = a.count + b.count
    delta = b.mean - a.mean  # (n,)
    weight = a.count * b.count / count
    mean = a.mean + delta * (b.count / count)
    m2 = a.m2 + b.m2 + delta * delta * weight
    comoment = None
    if a.comoment is not None and b.comoment is not None:
        comoment = a.comoment + b.comoment + torch.outer(delta, delta) * weight
    return MomentState(count, mean, m2, comoment)


def update(state: MomentState, batch: torch.Tensor) -> MomentState:
    """The state after also observing ``batch`` (b, n)."""
    return merge(state, from_batch(batch, covariance=state.comoment is not None))


def compute(state: MomentState) -> Moments:
    """Mean, population variance and covariance of everything observed."""
    if state.count == 0:
        raise ValueError("no observations: statistics need at least one example")
    var = (state.m2 / state.count).clamp_min(0.0)
    cov = None if state.comoment is None else state.comoment / state.count
    return Moments(state.count, state.mean.clone(), var, cov)


def all_reduce(state: MomentState) -> MomentState:
    """Merge the states of every rank of the default process group; all ranks get the result.

    States are gathered and merged in rank order, so every rank computes identical numbers,
    equal (to float64 rounding) to one process over all the data. Without an initialised
    process group the state is returned unchanged.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return state
    world = dist.get_world_size()
    n = state.mean.numel()
    has_cov = state.comoment is not None
    flat = [torch.tensor([float(state.count)], dtype=DTYPE), state.mean, state.m2]
    if has_cov:
        flat.append(state.comoment.reshape(-1))
    packed = torch.cat(flat)
    gathered = [torch.empty_like(packed) for _ in range(world)]
    dist.all_gather(gathered, packed)
    result = init(n, covariance=has_cov)
    for row in gathered:
        count = int(round(row[0].item()))
        mean, m2 = row[1 : 1 + n], row[1 + n : 1 + 2 * n]
        comoment = row[1 + 2 * n :].reshape(n, n) if has_cov else None
        result = merge(result, MomentState(count, mean, m2, comoment))
    return result


class RunningMoments:
    """Thin stateful wrapper: ``update(batch)`` repeatedly, then ``compute()``."""

    def __init__(self, n: int, *, covariance: bool = False) -> None:
        self.state = init(n, covariance=covariance)

    def update(self, batch: torch.Tensor) -> None:
        self.state = update(self.state, batch)

    def merge(self, other: RunningMoments) -> None:
        self.state = merge(self.state, other.state)

    def compute(self) -> Moments:
        return compute(self.state)
