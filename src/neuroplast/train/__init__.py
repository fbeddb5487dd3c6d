"""Training: protocols (paper, medium, fast, quick), the seeded SGD loop, evaluation, callbacks,
resumable checkpoints."""

from neuroplast.train.checkpoint import Checkpoint, CheckpointMismatch
from neuroplast.train.loop import (
    Callback,
    Evaluation,
    History,
    TrainState,
    check_protocol,
    evaluate,
    evaluate_splits,
    has_finite_weights,
    make_optimizer,
    non_finite_message,
    restrict,
    train,
)
from neuroplast.train.protocols import PROTOCOLS, Protocol, get_protocol

__all__ = [
    "Callback", "Checkpoint", "CheckpointMismatch", "Evaluation", "History", "PROTOCOLS",
    "Protocol", "TrainState", "check_protocol",
    "evaluate", "evaluate_splits", "get_protocol", "has_finite_weights", "make_optimizer",
    "non_finite_message", "restrict", "train",
]
