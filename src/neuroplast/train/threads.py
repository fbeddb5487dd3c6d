"""The number of CPU threads torch uses, set for one block of work and restored after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Within the block, torch's intra-op thread count is ``threads`` (None: left as it is);
    the previous count is restored afterwards, also when the block raises.

    Small nets gain little from several threads, and several threads on cores that other
    processes keep busy can be many times slower than one: each parallel region waits for its
    slowest thread, and a thread the scheduler has set aside stalls the others.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
