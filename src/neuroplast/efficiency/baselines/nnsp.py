"""NNSP, the variance of sensitivity (Thomas & Suhner 2015; eqs 53–68, Figs 17–20).

The sensitivity of an output ŷ_o to neuron k of a site on example n is S_ok(n) = ∂ŷ_o/∂x_k(n)
(eq. 54); NNSP scores k by the variance of its sensitivities over the training data (eq. 57),
summed over the outputs (the paper's adaptation to N4, §5.5):

    σ̂²_k = Σ_o ⟨(S_ok − ⟨S_ok⟩)²⟩.

**Output levels** (Fig. 17 numbering, generalised to any depth). For an LayeredModel with L Linear
layers, level 2j−1 is the pre-activation of ``layers[j-1]`` (j = 1..L), level 2j the
activation of hidden layer j, level 2L−1 the logits and level 2L the softmax. The site
``input`` is level 0 and ``hidden<s>`` is level 2s. For N4 (784-100-5-10): 2 = tanh after the
first Linear (100 outputs), 3 = Linear 100→5, 4 = tanh (5), 5 = logits (10), 6 = softmax (10).
``nnsp:<level>`` picks the level; ``nnsp:logits`` and ``nnsp:softmax`` name the last two; the
default is the logits (level 5 for N4 and every net with two hidden layers). A level must lie
at least two levels above the site: the level right above it (2s+1) has the constant weights
as sensitivities, whose variance is 0 (the paper's "level 1 is useless"), and is refused.

**Computation.** Per example and in batches, the chain rule from the chosen level down to the
site's consumer — a batched product of the softmax Jacobian diag(p) − p pᵀ (eq. 66), the
activation slopes f'(z) (u = 1 − (x²)², z = 1 − (x⁴)² for tanh) and the weight matrices —
gives A(n) = ∂ŷ/∂(consumer pre-activation), (m, w), computed in the model's dtype; the
sensitivities are S(n) = A(n) W with W the consumer's constant weights (w, n). Since W does
not vary over the data,

    σ̂²_k = Σ_o Var(Σ_l A_ol W_lk) = w_kᵀ C w_k,     C = Σ_o Cov(A_o·)   (w × w),

so only the (w, w) matrix C — the covariances of A's rows summed over the outputs, 100 × 100 on
N4's input site at every level — is accumulated, in float64 with Chan's stable merge, and the
(batch, m, n) sensitivity blocks are never formed (:func:`sensitivities` forms them for
inspection and tests). Neither are the paper's moment tensors (5²·100² for eq. 65,
5²·100²·10² for level 6): the sum over outputs is taken per example, before the moments. At
level 2s+2 (level 2 for the input site) A = diag(f'(z)) and C is the diagonal of the slope
variances: σ̂²_k = Σ_o Var(f'(z_o)) w_ok², eq. 59.

How a pruned neuron is removed is not part of NNSP (the paper does not say); any re-wiring
rule may be combined with it (``none`` = zeroing, ``A1`` = mean replacement into the bias).

**The summed-output reading** (``nnsp-summed:<level>``, ours). The variance of the
sensitivity of the *sum* of the level's outputs,

    σ̂²_k = Var_n(Σ_o S_ok(n)) = w_kᵀ Cov(Σ_o A_o·) w_k,

which adds the cross-output covariances to the per-output sum above. It is what a gradient of
a vector output gives when the outputs are not separated — Mathematica's
``NetPortGradient`` returns the gradient of the sum of a net's outputs — so it is the
candidate reading of the paper's level-5 numbers that docs/reproduction/fidelity.md tests; the
paper prints the per-output sum (eqs 59–65). At the softmax level the outputs sum to 1, so
the summed sensitivity is 0 and that level is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuroplast.efficiency.baselines.common import DTYPE, require_data
from neuroplast.efficiency.registry import MEASURES, MLP_ONLY, Measure, MeasureContext
from neuroplast.errors import NeuroplastError
from neuroplast.modes import enter_evaluation, restore_modes
from neuroplast.sites.layered import LayeredModel
from neuroplast.stats import moments

ELEMENTS_PER_BATCH = 1 << 22
"""Upper bound on batch × outputs × widest layer above the site: the largest block held."""
MAX_BATCH = 10_000


def site_level(model: LayeredModel, site: str) -> int:
    """The Fig. 17 level of a site: 0 for ``input``, 2s for ``hidden<s>``."""
    return 2 * model.site(site).index


def top_level(model: LayeredModel) -> int:
    """The softmax level, 2L for L Linear layers (6 for N4)."""
    return 2 * len(model.layers)


def level_width(model: LayeredModel, level: int) -> int:
    """Number of outputs at ``level`` (≥ 1)."""
    if level == top_level(model):
        return model.layers[-1].out_features
    return model.layers[(level + 1) // 2 - 1].out_features


@dataclass(frozen=True)
class Reading:
    """How NNSP combines the sensitivities of a level's outputs: ``measure`` is its registry
    name; with ``summed_outputs`` the score is Var(Σ_o S_ok), otherwise Σ_o Var(S_ok)."""

    measure: str
    summed_outputs: bool

    def highest_level(self, model: LayeredModel) -> int:
        """The highest usable level: the softmax's outputs sum to 1, so their summed
        sensitivity is 0 and the summed reading stops at the logits."""
        return top_level(model) - (1 if self.summed_outputs else 0)


PER_OUTPUT = Reading("nnsp", summed_outputs=False)
SUMMED_OUTPUTS = Reading("nnsp-summed", summed_outputs=True)


def output_level(model: LayeredModel, site: str, argument: str | None,
                 reading: Reading = PER_OUTPUT) -> int:
    """Parse ``<measure>:<argument>`` into a level and check it lies usefully above ``site``.

    Raises:
        NeuroplastError: for an unknown or unusable level; the message gives the valid range.
    """
    name = reading.measure
    top = top_level(model)
    highest = reading.highest_level(model)
    lowest = site_level(model, site) + 2
    aliases = {None: top - 1, "logits": top - 1, "softmax": top}
    if argument in aliases:
        level = aliases[argument]
    else:
        try:
            level = int(argument)
        except ValueError:
            raise NeuroplastError(
                f"{name} takes an output level (an integer, 'logits' or 'softmax'), got "
                f"{name}:{argument}"
            ) from None
    if level < lowest or level > highest:
        if level == lowest - 1:
            reason = "its sensitivities are the constant weights, whose variance is 0"
        elif level == top and reading.summed_outputs:
            reason = "the softmax outputs sum to 1, so the sensitivity of their sum is 0"
        else:
            reason = "the output must lie above the site"
        if lowest > highest:
            choice = f"no level is usable on this site; {PER_OUTPUT.measure}:{top} (per output) is"
        elif lowest == highest:
            choice = f"choose {name}:{highest} " + ("(softmax)" if highest == top else "(logits)")
        else:
            named = f"logits = {top - 1}" + ("" if highest < top else f", softmax = {top}")
            choice = f"choose a level from {lowest} to {highest} ({named})"
        raise NeuroplastError(f"{name}:{level} is not usable on site {site!r} ({reason}); "
                              f"{choice}")
    return level


def _forward(model: LayeredModel, site: str, values: torch.Tensor, level: int,
             ) -> list[torch.Tensor]:
    """Pre-activations z_j of ``layers[j-1]`` for j = s+1 .. ⌈level/2⌉, from site values."""
    s = model.site(site).index
    top_layer = (level + 1) // 2
    pre = []
    h = values  # (batch, n)
    for j in range(s + 1, top_layer + 1):
        z = model.layers[j - 1](h)  # (batch, width_j)
        pre.append(z)
        if j < len(model.layers):
            h = model.activation.fn(z)
    return pre


def consumer_jacobian(model: LayeredModel, site: str, values: torch.Tensor, level: int,
                      ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """A(n) = ∂(output at ``level``)/∂(consumer pre-activation), per example, from site values.

    Returns ``(None, A)`` with A (batch, m, w), w the consumer's width, or — when ``level`` is
    the activation right after the consumer (2s+2), where A is diagonal — ``(d, None)`` with
    d (batch, w) = f'(z) its diagonal. The sensitivities are S(n) = A(n) W, W the consumer's
    weights (w, n).
    """
    s = model.site(site).index
    pre = _forward(model, site, values, level)  # z_{s+1}, ...
    batch = values.shape[0]

    def z(j: int) -> torch.Tensor:
        return pre[j - s - 1]

    jacobian: torch.Tensor | None = None  # (batch, m, width of the current level)
    diagonal: torch.Tensor | None = None  # (batch, m): the Jacobian is diag(diagonal)
    current = level
    if current == top_level(model):
        p = torch.softmax(z(len(model.layers)), dim=-1)  # (batch, classes)
        jacobian = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)  # (batch, C, C)
        current -= 1
    while current > 2 * s + 1:
        j = (current + 1) // 2
        if current % 2 == 0:  # activation of hidden j → its pre-activation
            slope = model.activation.derivative(z(j))  # (batch, width_j)
            if jacobian is None:
                diagonal = slope
            else:
                jacobian = jacobian * slope.unsqueeze(1)
        else:  # pre-activation of layers[j-1] → its input, the activation of hidden j-1
            weight = model.layers[j - 1].weight  # (out, in)
            if jacobian is not None:
                m = jacobian.shape[1]
                jacobian = (jacobian.reshape(batch * m, -1) @ weight).reshape(batch, m, -1)
            elif diagonal is not None:
                jacobian = diagonal.unsqueeze(2) * weight.unsqueeze(0)  # (batch, out, in)
                diagonal = None
            else:  # the level is this pre-activation itself: A starts as its weights
                jacobian = weight.unsqueeze(0).expand(batch, -1, -1)  # (batch, out, in)
        current -= 1
    return diagonal, jacobian


def sensitivities(model: LayeredModel, site: str, values: torch.Tensor, level: int) -> torch.Tensor:
    """S(n) = ∂(output at ``level``)/∂(site values) per example: (batch, m, n).

    Args:
        values: (batch, n) values of the site's neurons.
        level: a Fig. 17 level from :func:`output_level`.
    """
    diagonal, jacobian = consumer_jacobian(model, site, values, level)
    weight = model.site(site).consumer.weight  # (w, n)
    if jacobian is None:
        return diagonal.unsqueeze(2) * weight.unsqueeze(0)  # (batch, w, n)
    batch, m, w = jacobian.shape
    return (jacobian.reshape(batch * m, w) @ weight).reshape(batch, m, -1)


def nnsp_efficiency(model: LayeredModel, site: str, x: torch.Tensor, level: int,
                    summed_outputs: bool = False) -> torch.Tensor:
    """σ̂²_k = Σ_o Var_n(S_ok(n)) over the inputs ``x`` (N, features): (n,) float64.

    With S(n) = A(n) W (:func:`consumer_jacobian`), Σ_o Var(S_ok) = w_kᵀ C w_k where
    C = Σ_o Cov_n(A_o·) is a (w, w) matrix (the covariances of the rows of A, summed over the
    outputs) and w_k column k of W. C is accumulated in float64 over batches with Chan's merge,
    so the (batch, m, n) sensitivities never need to be formed; where A is diagonal (level
    2s+2) C is the diagonal of slope variances (eq. 59).

    With ``summed_outputs``, σ̂²_k = Var_n(Σ_o S_ok(n)): A's rows are summed per example
    before the moments, C = Cov_n(Σ_o A_o·) (at level 2s+2 the full covariance of the slopes).
    """
    target = model.site(site)
    m = level_width(model, level)
    widths = [layer.out_features for layer in model.layers[target.index :]]
    diagonal_only = level == site_level(model, site) + 2 and level != top_level(model)
    per_example = max(widths) * (1 if diagonal_only else m)  # largest block held per example
    batch_size = max(1, min(MAX_BATCH, ELEMENTS_PER_BATCH // per_example))
    dtype = model.dtype
    weight = target.consumer.weight.detach().to(DTYPE)  # (w, n)
    diagonal_state = moments.init(weight.shape[0])
    count, mean, comoment = 0, None, None  # mean (m, w); comoment (w, w) = Σ_o Σ_n ΔA ΔAᵀ
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            values = model.site_values(site, x[start : start + batch_size].to(dtype))
            diagonal, jacobian = consumer_jacobian(model, site, values, level)
            if summed_outputs:  # the one output Σ_o ŷ_o: A's rows summed per example
                jacobian = (diagonal.unsqueeze(1) if jacobian is None
                            else jacobian.sum(dim=1, keepdim=True))
            if jacobian is None:
                diagonal_state = moments.update(diagonal_state, diagonal)
                continue
            block = jacobian.to(DTYPE)  # (batch, m, w)
            block_count = block.shape[0]
            block_mean = block.mean(dim=0)  # (m, w)
            centred = (block - block_mean).reshape(-1, block.shape[2])  # (batch·m, w)
            block_comoment = centred.T @ centred  # (w, w)
            if mean is None:
                count, mean, comoment = block_count, block_mean, block_comoment
                continue
            total = count + block_count
            delta = block_mean - mean  # (m, w)
            comoment = comoment + block_comoment + (delta.T @ delta) * (count * block_count
                                                                        / total)
            mean = mean + delta * (block_count / total)
            count = total
    if mean is None:  # diagonal A: C = diag(Var f'(z))
        return moments.compute(diagonal_state).var @ weight**2
    covariance = comoment / count  # (w, w) C
    return ((covariance @ weight) * weight).sum(dim=0).clamp_min(0.0)


def _nnsp(ctx: MeasureContext, reading: Reading) -> torch.Tensor:
    level = output_level(ctx.model, ctx.site, ctx.argument, reading)
    data = require_data(ctx, reading.measure)
    modes = enter_evaluation(ctx.model)
    try:
        return nnsp_efficiency(ctx.model, ctx.site, data.x, level, reading.summed_outputs)
    finally:
        restore_modes(modes)


def nnsp(ctx: MeasureContext) -> torch.Tensor:
    """σ̂²_k = Σ_o Var(S_ok), the paper's per-output sum (eqs 57, 59–68)."""
    return _nnsp(ctx, PER_OUTPUT)


def nnsp_summed(ctx: MeasureContext) -> torch.Tensor:
    """σ̂²_k = Var(Σ_o S_ok), the variance of the summed outputs' sensitivity (ours)."""
    return _nnsp(ctx, SUMMED_OUTPUTS)


MEASURES.register(Measure(
    site_kinds=MLP_ONLY,
    name="nnsp",
    description="variance of sensitivity summed over a level's outputs; argument = Fig. 17 "
                "level (2..6 on N4, logits, softmax; default logits = 5 on N4)",
    reference="eqs 53-68, Figs 17-20; Thomas & Suhner 2015",
    compute=nnsp,
    needs_data=True,
))
MEASURES.register(Measure(
    site_kinds=MLP_ONLY,
    name="nnsp-summed",
    description="variance of the sensitivity of a level's summed outputs (what a gradient of "
                "the summed outputs, e.g. Mathematica's NetPortGradient, gives); argument = "
                "Fig. 17 level up to the logits (default logits)",
    reference="ours; candidate reading of eq. 65 (fidelity.md)",
    compute=nnsp_summed,
    needs_data=True,
))
