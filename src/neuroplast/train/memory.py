"""About how much memory training MLPs of given widths takes, so that a command can refuse a
size this machine cannot hold before it builds anything (``train --fused-seeds 100000000``,
``train --widths 784,100000000,10``, ``grow --method B4 --n 100000000`` allocated until they
failed or the machine ran out).
"""

from __future__ import annotations

from collections.abc import Sequence

from neuroplast.train.fused import EVALUATION_BATCH

FLOAT32_BYTES = 4
OPTIMIZER_STATES: dict[str, int] = {"sgd": 0, "adam": 2}
"""Tensors each optimizer keeps per parameter (plain SGD, the paper's, with momentum 0: none;
Adam: its two moment estimates)."""


def parameter_count(widths: Sequence[int]) -> int:
    """Weights and biases of an MLP of ``widths`` (inputs, hidden…, outputs)."""
    return sum((fan_in + 1) * fan_out
               for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True))


def training_memory_estimate(widths: Sequence[int], nets: int = 1,
                             optimizer: str = "sgd") -> int:
    """About how many bytes training ``nets`` MLPs of ``widths`` in float32 takes, alone or
    fused (:func:`neuroplast.train.fused.train_fused`).

    Per net: the parameters three times (the net, its fused copy, the gradients) plus the
    optimizer's state (:data:`OPTIMIZER_STATES`), and every layer's outputs and
    pre-activations on one evaluation batch of :data:`EVALUATION_BATCH` examples, which
    dominate for MNIST nets. N4 under plain SGD: 9.68 MiB a net; measured on 2026-12-07, the
    peak resident memory of a fused N4 training grew by 9.6 MiB a net between 4 and 32 nets.
    The training data and the interpreter come on top.

    Raises:
        KeyError: for an optimizer not in :data:`OPTIMIZER_STATES`.
    """
    per_parameter = 3 + OPTIMIZER_STATES[optimizer]
    activations = 2 * EVALUATION_BATCH * sum(widths[1:])
    return FLOAT32_BYTES * nets * (per_parameter * parameter_count(widths) + activations)
