"""Streaming first and second moments in float64 with a stable merge (Chan et al. 1979).

Pure ``update`` / ``merge`` / ``compute`` functions on an immutable :class:`MomentState`, so the
result does not depend on batch size or order, and states from several processes can be merged
(:func:`all_reduce` under ``torch.distributed``). Variances are population variances (divide by
the count), as the paper's ⟨Δx²⟩ (eq. 10).
"""

from __future__ import annotations

import math
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


class Scratch:
    """A float64 buffer reused for the deviations of successive batches.

    Allocating a fresh (b, n) float64 buffer per batch costs page faults each time the
    allocator hands the memory back to the system (most of the statistics' overhead over a
    forward pass in ``benchmarks/bench_sites.py``); one buffer that grows to the largest batch
    avoids them. The arithmetic is the same with or without it.
    """

    def __init__(self) -> None:
        self._buffer: torch.Tensor | None = None

    def take(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """An uninitialised contiguous float64 tensor of ``shape`` on ``device``."""
        numel = math.prod(shape)
        if (self._buffer is None or self._buffer.numel() < numel
                or self._buffer.device != device):
            self._buffer = torch.empty(numel, dtype=DTYPE, device=device)
        return self._buffer[:numel].view(shape)

    def take_like(self, like: torch.Tensor) -> torch.Tensor:
        """A float64 tensor shaped like ``like`` with its memory layout when that layout is a
        permutation of a contiguous one (a channels-first feature map seen channels-last),
        so copying ``like`` in is a straight cast rather than a gather."""
        order = sorted(range(like.dim()), key=lambda d: -like.stride(d))
        permuted = like.permute(order)
        if not permuted.is_contiguous():
            return self.take(like.shape, like.device)
        inverse = sorted(range(like.dim()), key=order.__getitem__)
        return self.take(permuted.shape, like.device).permute(inverse)


def from_batch(batch: torch.Tensor, *, covariance: bool = False,
               shift: torch.Tensor | None = None, scratch: Scratch | None = None,
               consume: bool = False) -> MomentState:
    """The state of one batch (b, n), accumulated in float64.

    Deviations d = x − K from a shift K (default: the batch's first row; :func:`update` passes
    the running mean) give the batch mean K + Σd/b and the centred sums of squares
    Σd² − (Σd)²/b. With K close to the mean this loses nothing to cancellation, and a variable
    that never changes has d ≡ 0, hence exactly zero variance whatever the batching.

    The float64 deviations live in one new buffer (cast, then subtract in place) and the sums
    are matrix-vector products: few passes over the batch and no temporaries, which matters
    when statistics ride along a forward pass (``collect_site_statistics``).

    Args:
        batch: (b, n) observations, or (..., n) (any strides), flattened to rows in their
            logical order; any real dtype.
        covariance: also accumulate the (n, n) co-moment Σ d dᵀ − (Σd)(Σd)ᵀ/b.
        shift: (n,) the shift K; any value gives the same result up to rounding.
        scratch: a reusable buffer for the float64 deviations (same result, fewer allocations).
        consume: ``batch`` is a float64 buffer the caller no longer needs (e.g. taken from a
            :class:`Scratch`): the deviations overwrite it, no copy at all.
    """
    batch = batch.detach()
    n = batch.shape[-1]
    count = batch.numel() // n if n else 0
    if count == 0:
        return init(n, covariance=covariance)
    if shift is None:  # the first row (a copy: the deviations may overwrite the batch)
        shift = batch[(0,) * (batch.dim() - 1)].to(DTYPE, copy=True)
    shift = shift.to(device=batch.device, dtype=DTYPE)  # (n,)
    if consume:
        if batch.dtype != DTYPE:
            raise ValueError(f"consume=True needs a float64 batch, got {batch.dtype}")
        deviation = batch.sub_(shift)
    elif scratch is None:  # float64, one new buffer in the batch's memory layout
        deviation = batch.to(DTYPE, copy=True).sub_(shift)
    else:  # cast straight into the reused buffer
        deviation = scratch.take_like(batch).copy_(batch).sub_(shift)
    if not deviation.is_contiguous():
        if not covariance:
            # Rows strided across memory (a feature map's positions, channel by channel):
            # reductions in the buffer's own layout, no gather.
            leading = tuple(range(deviation.dim() - 1))
            total = deviation.sum(dim=leading)  # (n,) Σ d
            mean_deviation = total / count
            m2 = deviation.square_().sum(dim=leading) - total * mean_deviation  # (n,)
            return MomentState(count, shift + mean_deviation, m2, None)
        deviation = deviation.reshape(count, n)  # C needs the rows side by side: one copy
    deviation = deviation.view(count, n)
    ones = torch.ones(count, dtype=DTYPE, device=batch.device)  # (b,)
    total = ones @ deviation  # (n,) Σ d
    mean_deviation = total / count  # (n,)
    comoment = None
    if covariance:
        comoment = deviation.T @ deviation - torch.outer(total, mean_deviation)  # (n, n)
        m2 = comoment.diagonal().clone()  # (n,): var and diag(cov) agree exactly
    else:
        m2 = ones @ deviation.square_() - total * mean_deviation  # (n,)
    return MomentState(count, shift + mean_deviation, m2, comoment)


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


def update(state: MomentState, batch: torch.Tensor, scratch: Scratch | None = None,
           consume: bool = False) -> MomentState:
    """The state after also observing ``batch`` (b, n); deviations from the running mean
    (``scratch`` and ``consume`` as in :func:`from_batch`)."""
    shift = state.mean if state.count > 0 else None
    return merge(state, from_batch(batch, covariance=state.comoment is not None, shift=shift,
                                   scratch=scratch, consume=consume))


def compute(state: MomentState) -> Moments:
    """Mean, population variance and covariance of everything observed."""
    if state.count == 0:
        raise ValueError("no observations: statistics need at least one example")
    var = (state.m2 / state.count).clamp_min(0.0)
    cov = None
    if state.comoment is not None:
        cov = (state.comoment + state.comoment.T) / (2 * state.count)  # exactly symmetric
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
    # NCCL only moves CUDA tensors; gloo (and mpi) take the state where it is.
    device = (torch.device("cuda", torch.cuda.current_device())
              if dist.get_backend() == "nccl" else state.mean.device)
    flat = [torch.tensor([float(state.count)], dtype=DTYPE), state.mean, state.m2]
    if has_cov:
        flat.append(state.comoment.reshape(-1))
    packed = torch.cat([t.to(device) for t in flat])  # (1 + 2n [+ n²],)
    gathered = [torch.empty_like(packed) for _ in range(world)]
    dist.all_gather(gathered, packed)
    result = init(n, covariance=has_cov)
    for row in gathered:
        count = int(round(row[0].item()))
        mean, m2 = row[1 : 1 + n], row[1 + n : 1 + 2 * n]
        comoment = row[1 + 2 * n :].reshape(n, n) if has_cov else None
        result = merge(result, MomentState(count, mean, m2, comoment))
    home = state.mean.device
    return MomentState(result.count, result.mean.to(home), result.m2.to(home),
                       None if result.comoment is None else result.comoment.to(home))


def all_reduce_sum(total: torch.Tensor, count: int) -> tuple[torch.Tensor, int]:
    """Sum a float64 tensor and a count over every rank (unchanged without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return total, count
    device = (torch.device("cuda", torch.cuda.current_device())
              if dist.get_backend() == "nccl" else total.device)
    packed = torch.cat([torch.tensor([float(count)], dtype=DTYPE),
                        total.reshape(-1).to(DTYPE)]).to(device)
    dist.all_reduce(packed)
    home = total.device
    return packed[1:].reshape(total.shape).to(home), int(round(packed[0].item()))


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
