"""Training: protocols (paper, medium, fast, quick), the seeded SGD loop, evaluation, callbacks."""

from neuroplast.train.loop import (
    Callback,
    Evaluation,
    History,
    TrainState,
    evaluate,
    evaluate_splits,
    make_optimizer,
    restrict,
    train,
)
from neuroplast.train.protocols import PROTOCOLS, Protocol, get_protocol

__all__ = [
    "Callback", "Evaluation", "History", "PROTOCOLS", "Protocol", "TrainState", "evaluate",
    "evaluate_splits", "get_protocol", "make_optimizer", "restrict", "train",
]
