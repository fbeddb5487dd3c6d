"""What the end-to-end tests of the level probes share: each stored level is the members
trained fused, by hand, under that level's protocol on the restricted split and data seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def assert_levels_trained_by_hand(levels: list[dict[str, Any]], data_dir: str,
                                  protocol_of: Callable[[dict[str, Any]], Any], *,
                                  members: int = 2, paper_epochs: float = 500,
                                  data_seed: int = 3, init: str = "kaiming-normal") -> None:
    """Every level's training accuracies equal those of ``members`` N1s initialised with seeds
    0 … members − 1 and trained fused under ``protocol_of(level)`` on the restricted training
    split with ``data_seed``; and the levels differ from each other."""
    from neuroplast.data import load_mnist
    from neuroplast.models import build_mlp, initialize
    from neuroplast.train import evaluate, restrict
    from neuroplast.train.fused import train_fused

    data = load_mnist(data_dir, download=False)
    for stored in levels:
        protocol = protocol_of(stored)
        nets = [initialize(build_mlp("N1"), seed, init) for seed in range(members)]
        train_split = restrict(data.train, protocol)
        train_fused(nets, train_split, protocol, epochs=protocol.epochs(paper_epochs),
                    data_seed=data_seed, progress=False)
        assert stored["train_accuracy"] == [evaluate(m, train_split).accuracy for m in nets]
    assert levels[0]["train_accuracy"] != levels[1]["train_accuracy"]
