"""The least element-wise work found for a fused training step built from separate kernels.

:mod:`benchmarks.bench_training` times a fused step
(:meth:`neuroplast.train.fused.FusedMLP.sgd_step`) against its all-GEMM ceiling, the matrix
products alone. What lies between the two is the batch gather and element-wise work. This
module gives, on tensors of the fused step's shapes (:func:`floor_shapes`), the fewest
element-wise passes found for a step of separate PyTorch kernels
(:func:`least_elementwise_work`): per hidden layer one pass for f(z) and one for
g·f'(z) from f(z), and for the logits one exp2 pass and one normalising pass. The ceiling's
time over (products on a freshly gathered batch + this work) is then the most of the ceiling
such a step was found able to reach.

What is left out, so the floor is lower than any real step's: the loss itself, the
bias-gradient sums, the max-subtraction a stable softmax needs, the one-hot subtraction, a
masked first layer's mask pass and a ragged model's padding copies (input- and cutoff-pruning's
copies). The tanh forward is one σ pass: FusedMLP's second pass (2σ − 1) could be folded into
the next product's α and bias and the derivative's factor 4 into the backward product's α.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

ACTIVATION_PASSES: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]] = {
    # tanh(z) = 2σ(2z) − 1 from the 2z the product hands over: one σ pass; its derivative
    # 1 − tanh² = 4σ(1 − σ), σ's own backward with the 4 folded into the next product's α
    "tanh": (torch.sigmoid, torch.ops.aten.sigmoid_backward.grad_input),
    "sigmoid": (torch.sigmoid, torch.ops.aten.sigmoid_backward.grad_input),
}
"""Per activation: (the forward pass ``f(z, out=h)``, the backward pass
``backward(g, h, grad_input=out)``), the fewest passes found here for each, up to the affine
maps named in the comments, which the neighbouring products can absorb."""


def floor_shapes(first_rows: int, widths: Sequence[int], batch: int,
                 members: int) -> tuple[list[tuple[int, ...]], tuple[int, int, int]]:
    """The fused step's element-wise tensors: every hidden layer's pre-activation (the first
    ``(first_rows, batch)`` with ``first_rows`` = Σ h₁ over the members, later ones
    ``(members, width, batch)`` at the fused ``widths``) and the logits ``(members, C,
    batch)``."""
    hidden: list[tuple[int, ...]] = [(first_rows, batch)]
    hidden += [(members, width, batch) for width in widths[2:-1]]
    return hidden, (members, widths[-1], batch)


def least_elementwise_work(first_rows: int, widths: Sequence[int], batch: int, members: int,
                           activation: str) -> Callable[[], None]:
    """One call = the least element-wise work found for a step of separate kernels, on
    tensors of :func:`floor_shapes`: per hidden layer f(z) and g·f'(z) from f(z)
    (:data:`ACTIVATION_PASSES`, one pass each), for the logits one ``exp2`` pass (log₂ e
    folded into the last product, as FusedMLP does) and one normalising pass.

    Raises:
        ValueError: an activation without passes in :data:`ACTIVATION_PASSES`.
    """
    if activation not in ACTIVATION_PASSES:
        raise ValueError(f"no element-wise floor for {activation!r}; one of "
                         + ", ".join(ACTIVATION_PASSES))
    forward, backward = ACTIVATION_PASSES[activation]
    hidden_shapes, logits_shape = floor_shapes(first_rows, widths, batch, members)
    hidden = [torch.randn(shape) for shape in hidden_shapes]
    grads = [torch.randn(shape) for shape in hidden_shapes]
    outputs = [torch.empty(shape) for shape in hidden_shapes]
    # the backward writes apart from g: repeated calls in place would shrink g into
    # subnormals, which are slow
    below = [torch.empty(shape) for shape in hidden_shapes]
    logits = torch.randn(logits_shape)
    probabilities = torch.empty(logits_shape)

    def work() -> None:
        for z, h, g, out in zip(hidden, outputs, grads, below, strict=True):
            forward(z, out=h)
            backward(g, h, grad_input=out)
        torch.exp2(logits, out=probabilities)
        probabilities.mul_(probabilities.sum(dim=1, keepdim=True).reciprocal_())

    return work


def step_floor(products: Callable[[], None],
               elementwise: Callable[[], None]) -> Callable[[], None]:
    """One call = ``products()`` (a step's matrix products on a freshly gathered batch) then
    ``elementwise()`` (:func:`least_elementwise_work`): a floor of a whole step."""

    def step() -> None:
        products()
        elementwise()

    return step
