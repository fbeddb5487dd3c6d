"""Training protocols (DESIGN.md §3) and every training decision the paper leaves open.

The paper (REFERENCE §2.2) trains with plain SGD, batch 600, momentum 0, L2 0.001, constant
learning rate 0.001, for thousands of epochs; one epoch is one pass over the training set
(100 steps on MNIST). Decisions we made where the paper is silent (REFERENCE §1.15):

* **L2 form** (item 2): the protocols' penalty is (λ/2)·Σθ² over *all* parameters, weights and
  biases, with λ = 0.001, added to the per-example *mean* cross-entropy; i.e. PyTorch SGD
  ``weight_decay = 0.001``. Every reproduction setting leaves biases unpenalised
  (``half-weights``, ``neuroplast.train.l2``; ``neuroplast.experiments.settings``). Reported
  losses never include the penalty.
* **Initialisation** (item 3): zero biases; the library's default is Xavier-normal weights
  (``neuroplast.models.init``); the reproduction's ``fast`` setting uses Kaiming-normal, its
  ``paper-probable`` setting variance 1/fan_in (``neuroplast.experiments.settings``).
* **Pixel scaling** (item 6): pixels in [0, 1]; the paper's Mathematica data is probably
  colour-inverted (background 1); ``load_mnist(invert=True)`` gives that encoding. A1, A3 and the
  NNSP variances do not depend on it; N2PS and trained weight signs do.
* **Loss** (item 1): mean cross-entropy over examples (softmax inside the loss).
* **Accuracy** (item 8): "accuracy" without qualifier is *training-set* accuracy, as in the
  paper; test ("validation") accuracy is always reported beside it.
* **Shuffling**: a new permutation every epoch from a generator seeded by the run's seed.
* **Learning-rate schedule**: constant, as the paper states; ``lr_schedule="polynomial"`` gives
  Mathematica ``NetTrain``'s default for SGD instead (``neuroplast.train.lr_schedule``), a
  factor of the fidelity study.

Protocols:

* ``paper``: exactly the paper's hyper-parameters and epoch counts.
* ``medium``: learning rate ×10, epochs ÷10 (the same learning-rate × steps), all else equal;
  ten times ``fast``'s steps, a tenth of ``paper``'s: the middle level of the time-rescaling
  factor of the fidelity study (docs/reproduction/fidelity.md).
* ``fast``: learning rate ×100, epochs ÷100 (the same learning-rate × steps), all else equal.
* ``quick``: learning rate ×100, epochs ÷500 on a 6,000-image training subset (10 steps per
  epoch); the smallest run that still exercises every code path, for tests and CI.

Experiments state their lengths in the paper's epochs; :meth:`Protocol.epochs` rescales them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from neuroplast.errors import NeuroplastError
from neuroplast.train.lr_schedule import DEFAULT_LR_SCHEDULE, get_lr_schedule


@dataclass(frozen=True)
class Protocol:
    """Hyper-parameters of one training protocol.

    Attributes:
        name: protocol name.
        learning_rate: SGD learning rate.
        epoch_scale: our epochs per paper epoch.
        batch_size: examples per SGD step.
        momentum: SGD momentum.
        weight_decay: λ of the L2 penalty (λ/2)·Σθ².
        decay_biases: whether the penalty covers biases (True) or weights only
            (``neuroplast.train.l2``).
        max_train_examples: use only the first this-many training examples (None = all).
        description: one line for ``--help`` and reports.
        lr_schedule: how the rate changes over one training call, a name in
            ``neuroplast.train.lr_schedule.LR_SCHEDULES`` (``constant``: the paper's).

    Raises:
        NeuroplastError: an unknown ``lr_schedule``.
    """

    name: str
    learning_rate: float
    epoch_scale: float
    batch_size: int = 600
    momentum: float = 0.0
    weight_decay: float = 0.001
    decay_biases: bool = True
    max_train_examples: int | None = None
    description: str = ""
    lr_schedule: str = DEFAULT_LR_SCHEDULE

    def __post_init__(self) -> None:
        get_lr_schedule(self.lr_schedule)

    def epochs(self, paper_epochs: float) -> float:
        """Our number of epochs for a length given in the paper's epochs (may be fractional)."""
        if not math.isfinite(paper_epochs) or paper_epochs < 0:
            raise NeuroplastError(
                f"epoch counts must be finite and non-negative, got {paper_epochs}"
            )
        return paper_epochs * self.epoch_scale

    def as_dict(self) -> dict[str, object]:
        """Every hyper-parameter, for recording beside results (``lr_schedule`` only when it is
        not ``constant``, so records of constant-rate trainings read as before schedules
        existed)."""
        record: dict[str, object] = {
            "protocol": self.name,
            "learning_rate": self.learning_rate,
            "epoch_scale": self.epoch_scale,
            "batch_size": self.batch_size,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "decay_biases": self.decay_biases,
            "max_train_examples": self.max_train_examples,
        }
        if self.lr_schedule != DEFAULT_LR_SCHEDULE:
            record["lr_schedule"] = self.lr_schedule
        return record


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("paper", 0.001, 1.0, description="the paper's SGD: lr 0.001, paper epoch counts"),
        Protocol("medium", 0.01, 0.1, description="lr ×10, epochs ÷10 (same lr × steps)"),
        Protocol("fast", 0.1, 0.01, description="lr ×100, epochs ÷100 (same lr × steps)"),
        Protocol(
            "quick", 0.1, 0.002, max_train_examples=6000,
            description="lr ×100, epochs ÷500, 6,000 training images: smoke tests and CI",
        ),
    )
}


def get_protocol(name: str) -> Protocol:
    """Return the protocol called ``name`` (``paper``, ``medium``, ``fast`` or ``quick``)."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise NeuroplastError(
            f"unknown protocol {name!r}; choose one of: {', '.join(PROTOCOLS)}"
        ) from None
