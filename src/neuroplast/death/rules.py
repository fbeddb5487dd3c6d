"""Re-wiring rules for a dying neuron: the linear relation Σ_j a_j x_j ≈ a_0 and eqs 41–43.

A :class:`Rewirer` holds a float64 copy of the consumer's weights and biases and the set of
neurons still alive. For a dying neuron l a rule gives the relation (a, a_0) among the *living*
neurons of the same site; substituting x_l = (a_0 − Σ_{j≠l} a_j x_j) / a_l into the consumer
(eq. 41) gives

    w'_ij = w_ij − w_il a_j / a_l   (eq. 42),      b'_i = b_i + w_il a_0 / a_l   (eq. 43),

and neuron l is gone. Removing several neurons is this step repeated on the updated weights;
:meth:`Rewirer.commit` then writes the weights into the model and deletes the dead neurons
physically (:mod:`neuroplast.surgery`). Statistics are those given at construction (one set of
statistics, REFERENCE §1.15 item 10).

Rules (REFERENCE §1.7–1.10):

* ``A1`` connection cut: x_l = ⟨x_l⟩ (eq. 73–74), bias compensation only.
* ``A2`` probability: the conditional mean of eq. 36 with the corrected coefficients of
  REFERENCE §1.8, a_j = Σ_i g_i w_il w_ij with g_i = f'_i(ȳ_i)²/C_ii, a_0 = Σ_j a_j⟨x_j⟩.
  Where a_l = 0 (no effective outgoing weight) it falls back to A1. Note what this relation
  does: the consumer's pre-activation becomes z' = ȳ + (I − P)(z − ȳ) with P = w_l w_lᵀG /
  (w_lᵀ G w_l), G = diag(g): the component of *every* neuron's signal along w_l is removed, as
  eq. 36 estimates x_l as if the consumer sat at its mean. Each removal costs the consumer one
  direction of variation; with N4's 5-wide consumer, five removals leave it constant (chance
  accuracy). This is the paper's A2, not a slip here (REFERENCE §4 claims 2–3).
* ``A3`` covariance: a = v^(p), the eigenvector of the living neurons' covariance that
  minimises λ_p/(v_l^(p))² (eq. 80), with the main text's a_0 = Σ_k v_k⟨x_k⟩ (eqs 14, 19).
  Eigenvalues are floored as in E'_k (``efficiency.paper.eigenvalue_floor``): clipped at 0,
  round-off leakage of neuron l into a null eigenvector (|v_l| ~ 1e-8) would win the argmin
  with ratio 0 and give a relation with a_j/a_l ~ 1e8.
* ``A3-appendix``: the same with the appendix's a_0 = λ_p (eq. 81), a misprint kept only as a
  named variant for a side-by-side check. It shifts every consumer bias by
  w_jl (λ_p − Σ_k v_k⟨x_k⟩)/v_l, and its result even depends on the arbitrary sign of the
  eigenvector (v → −v changes a_0/a_l from λ_p/v_l to −λ_p/v_l).
* ``lstsq`` (ours): regress x_l on its living layer-mates with an intercept, from the
  covariance; the best linear relation, so its substitution error never exceeds A3's. Computed
  from the precision matrix P = (C + δI)⁻¹: a_l = 1, a_j = P_lj/P_ll, a_0 = Σ_j a_j⟨x_j⟩, with
  one step of iterative refinement against C that removes the ridge's bias; a removal
  downdates P by a Schur complement (O(n²)). Removing several neurons one after another
  equals regressing each on the final survivors jointly. What the relation cannot replace,
  the residual of variance 1/P_ll, is what removing l costs: :meth:`Rewirer.removal_costs`
  gives E^c_l = (1/P_ll) Σ_i g_i w_il² for every living neuron now (the greedy selection
  ``conditional:greedy``, :mod:`neuroplast.efficiency.conditional`).
* ``obs`` (structured OBS; ZipLM, SlimGPT): ``lstsq`` through the origin on the uncentred
  second moment H = E[x xᵀ] = C + μμᵀ: a_l = 1, a_j = [H⁻¹]_lj/[H⁻¹]_ll, a_0 = 0, so no bias
  moves; eq. 42 is then ZipLM's column update, a removal downdates H⁻¹ as P above, and
  :meth:`Rewirer.removal_costs` gives ‖W_:,l‖²/[H⁻¹]_ll (g_i = 1), the greedy ``obs:greedy``
  (:mod:`neuroplast.efficiency.baselines.obs`).
* ``none``: plain slicing, x_l = 0 (what other tools do), to isolate the effect of compensation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from neuroplast.efficiency.baselines.obs import obs_inverse_hessian
from neuroplast.efficiency.conditional import conditional_efficiency, least_squares_precision
from neuroplast.efficiency.paper import (
    CovarianceEfficiency,
    consumer_gain,
    covariance_efficiency,
)
from neuroplast.errors import NeuroplastError
from neuroplast.sites.resolve import resolve_site
from neuroplast.sites.site import Site, rebind
from neuroplast.stats.site import SiteStatistics

DTYPE = torch.float64


@dataclass(frozen=True)
class RuleInfo:
    """A re-wiring rule's registry entry (``moves_bias``: its relations may shift the
    consumer's bias, so a bias-free consumer needs one added first)."""

    name: str
    description: str
    reference: str
    default_measure: str
    needs_covariance: bool
    moves_bias: bool = True


RULES: dict[str, RuleInfo] = {
    r.name: r
    for r in (
        RuleInfo("A1", "connection cut: x_l -> <x_l>, next-layer bias compensation",
                 "eqs 27-28, 73-74 (appendix A.1)", "connection", False),
        RuleInfo("A2", "probability: x_l -> conditional mean (corrected coefficients)",
                 "eqs 36-37, 75-79 (appendix A.2), REFERENCE 1.8", "connection", False),
        RuleInfo("A3", "covariance: minimising eigenvector, a_0 = sum_k v_k <x_k>",
                 "eqs 14-19, 80-83 (appendix A.3, main-text a_0)", "covariance", True),
        RuleInfo("A3-appendix", "A3 with the appendix's a_0 = lambda_p (misprint, for comparison)",
                 "eq. 81 as printed", "covariance", True),
        RuleInfo("lstsq", "least squares: regress x_l on living layer-mates with intercept",
                 "ours; optimal linear relation", "covariance", True),
        RuleInfo("obs", "structured OBS: regress x_l on living layer-mates without intercept "
                        "(uncentred H = E[x x^T]), no bias change",
                 "Kurtic et al. 2023 (ZipLM), Ling et al. 2024 (SlimGPT)", "obs:greedy", True,
                 moves_bias=False),
        RuleInfo("none", "plain slicing, no compensation (x_l -> 0)",
                 "baseline used by common pruning tools", "connection", False,
                 moves_bias=False),
    )
}


def get_rule(name: str) -> RuleInfo:
    """The rule called ``name`` (case-insensitive)."""
    key = next((k for k in RULES if k.lower() == name.lower()), None)
    if key is None:
        raise NeuroplastError(
            f"unknown re-wiring rule {name!r}; choose one of: {', '.join(RULES)}"
        )
    return RULES[key]


@dataclass(frozen=True)
class Relation:
    """Σ_j a_j x_j ≈ a_0 used to eliminate neuron ``neuron`` (eq. 39).

    Attributes:
        neuron: index l of the dying neuron.
        coefficients: (n,) a_j, zero on dead neurons, a_l ≠ 0.
        constant: a_0.
        centred: a_0 was taken from the means (a_0 = Σ_j a_j⟨x_j⟩ or ⟨x_l⟩), so on a
            consumer with several offsets the constant follows each offset's means (see
            :class:`Rewirer`); False for a relation whose constant is literal (``none``:
            x_l = 0; ``obs``: no intercept), which then changes no bias beyond w_il·a_0/a_l.
    """

    neuron: int
    coefficients: torch.Tensor
    constant: float
    centred: bool = True

    def substitute(self, values: torch.Tensor) -> torch.Tensor:
        """The value x_l is replaced by, (a_0 − Σ_{j≠l} a_j x_j)/a_l, for (N, n) site values.

        Returns (N,) float64. The product Σ_j a_j x_j is taken in the dtype of ``values`` (no
        float64 copy of a large float32 matrix is made); a relation with no other neuron (A1,
        ``none``) gives the constant a_0/a_l without reading ``values``.
        """
        l = self.neuron
        others = self.coefficients.clone()
        others[l] = 0.0
        a_l = float(self.coefficients[l])
        if not bool(others.any()):
            return torch.full((values.shape[0],), self.constant / a_l, dtype=DTYPE)  # (N,)
        mixed = (values @ others.to(values.dtype)).to(DTYPE)  # (N,) Σ_{j≠l} a_j x_j
        return (self.constant - mixed) / a_l  # (N,)


class Rewirer:
    """Applies a rule's relations one neuron at a time to a float64 copy of the consumer.

    The consumer is held as W (m, n, K) (:mod:`neuroplast.sites.consumers`): a relation among
    the site's neurons holds at every row, so it folds into every offset δ of the consumer,
    w'_ijδ = w_ijδ − w_ilδ a_j / a_l (eq. 42). The bias takes the relation's constant at each
    offset, b'_i = b_i + Σ_δ w_ilδ c_δ / a_l with c_δ = a_0 + Σ_j a_j (M_jδ − ⟨x_j⟩) (eq. 43;
    M the per-offset means of the statistics): c_δ = a_0 for a Linear, and for a convolution
    with zero padding it is what keeps the mean pre-activation exact although border
    positions read zeros. A relation whose constant is literal (``Relation.centred`` False:
    rule ``none``, x_l = 0; rule ``obs``, a_0 = 0) keeps c_δ = a_0 at every offset, so plain
    slicing and structured OBS leave the bias alone on every site kind. Where the consumer has
    no bias, a rule that shifts it needs one added first (:meth:`Site.add_consumer_bias`;
    ``prune`` does it and says so).
    """

    def __init__(self, model: nn.Module, site: Site | str, stats: SiteStatistics,
                 rule: str) -> None:
        self.rule = get_rule(rule)
        if self.rule.needs_covariance and stats.cov is None:
            raise NeuroplastError(
                f"rule {self.rule.name} needs the site covariance; collect statistics with "
                "covariance=True"
            )
        target = resolve_site(model, site)
        if stats.width != target.width:
            raise NeuroplastError(
                f"statistics are for {stats.width} neurons but site {target.name!r} has "
                f"{target.width}; collect them again"
            )
        bias = target.consumer_bias()
        if bias is None and self.rule.moves_bias:
            raise NeuroplastError(
                f"rule {self.rule.name} moves the consumer's bias, but the consumer "
                f"{type(target.consumer).__name__} of site {target.name!r} has none; let prune "
                "add one (add_bias=True, the default) or call site.add_consumer_bias(optimizer)"
            )
        self.model = model
        self.target = target
        self.site = target.name
        self.stats = stats
        self.weight3 = target.consumer_weight().to(DTYPE).clone()  # (m, n, K)
        m = self.weight3.shape[0]
        self.bias = torch.zeros(m, dtype=DTYPE) if bias is None else bias.to(DTYPE).clone()
        self.alive = torch.ones(stats.width, dtype=torch.bool)
        name = self.rule.name
        self._gain = consumer_gain(model, target, stats) if name in ("A2", "lstsq") \
            else torch.ones(m, dtype=DTYPE) if name == "obs" else None  # OBS: every output 1
        self._eigen: tuple[torch.Tensor, CovarianceEfficiency, torch.Tensor] | None = None
        self._precision = least_squares_precision(stats.cov, self.site) if name == "lstsq" \
            else obs_inverse_hessian(stats) if name == "obs" else None

    @property
    def weight(self) -> torch.Tensor:
        """The re-wired consumer weights: (m, n) for a Linear consumer (K = 1), else
        (m, n, K); a view, so writing into it changes the re-wirer."""
        return self.weight3[:, :, 0] if self.weight3.shape[2] == 1 else self.weight3

    def column(self, l: int) -> torch.Tensor:
        """Neuron l's current outgoing weights: (m,) for K = 1, else (m, K)."""
        return self.weight[:, l]

    # -- relations ---------------------------------------------------------------------
    def relation(self, l: int) -> Relation:
        """The relation that would eliminate living neuron ``l`` now."""
        if not self.alive[l]:
            raise NeuroplastError(f"neuron {l} of site {self.site!r} is already removed")
        name = self.rule.name
        if name == "A1":
            return self._unit_relation(l, float(self.stats.mean[l]))
        if name == "none":
            return self.deletion(l)
        if name == "A2":
            return self._probability_relation(l)
        if name in ("A3", "A3-appendix"):
            return self._covariance_relation(l, appendix=name == "A3-appendix")
        if name == "obs":
            return self._obs_relation(l)
        return self._least_squares_relation(l)

    def deletion(self, l: int) -> Relation:
        """Rule ``none``'s relation for neuron ``l`` (x_l = 0: deleted, nothing compensated),
        to pass to :meth:`remove` under any rule when one neuron is to be deleted outright."""
        return replace(self._unit_relation(l, 0.0), centred=False)

    def _unit_relation(self, l: int, constant: float) -> Relation:
        a = torch.zeros(self.stats.width, dtype=DTYPE)
        a[l] = 1.0
        return Relation(l, a, constant)

    def _probability_relation(self, l: int) -> Relation:
        if self.weight3.shape[2] == 1:
            a = (self._gain * self.weight[:, l]) @ self.weight  # (n,): Σ_i g_i w_il w_ij
        else:  # (n,): Σ_i g_i Σ_δ w_ilδ w_ijδ
            a = torch.einsum("i,id,ijd->j", self._gain, self.weight3[:, l], self.weight3)
        a = torch.where(self.alive, a, torch.zeros_like(a))
        if a[l].abs() <= 1e-300:
            return self._unit_relation(l, float(self.stats.mean[l]))
        return Relation(l, a, float(a @ self.stats.mean))

    def _living_eigen(self) -> tuple[torch.Tensor, CovarianceEfficiency, torch.Tensor]:
        """E'_k of the living neurons' covariance with its eigenpairs (eq. 17), the living
        indices, and the eigenvectors placed back into all n entries (n, n_alive); computed
        once per set of living neurons."""
        if self._eigen is None:
            idx = self.alive.nonzero().flatten()
            living = covariance_efficiency(self.stats.cov[idx][:, idx])
            full = torch.zeros(self.stats.width, idx.numel(), dtype=DTYPE)
            full[idx] = living.eigenvectors
            self._eigen = (idx, living, full)
        return self._eigen

    def _covariance_relation(self, l: int, *, appendix: bool) -> Relation:
        idx, living, full = self._living_eigen()
        p = int(living.eigen_index[int((idx == l).nonzero())])  # l's minimising eigenpair
        v = full[:, p]
        constant = float(living.eigenvalues[p]) if appendix else float(v @ self.stats.mean)
        return Relation(l, v.clone(), constant)

    def _least_squares_relation(self, l: int) -> Relation:
        """a_l = 1, a_j = P_lj/P_ll, refined once against the unregularised covariance.

        The ridge δ biases P_lj/P_ll by δ/(λ+δ) along an eigen-direction λ of C_oo; one step
        of iterative refinement, a_o ← a_o − S (C a)_o with S = (C_oo + δI)⁻¹ = P_oo −
        P_ol P_lo / P_ll (o = the other living neurons, O(n²)), squares that factor, so an
        exact linear dependence is reproduced to float64 rounding when the other neurons are
        well conditioned (λ_min(C_oo) ≫ δ). Where they are themselves nearly dependent
        (λ ~ δ) the coefficients can still be off by O(1) along that direction, which changes
        the substituted value by at most ~sqrt(δ) (tests/test_site_properties.py).
        """
        p, cov = self._precision, self.stats.cov
        others = self.alive.clone()
        others[l] = False
        zero = torch.zeros((), dtype=DTYPE)
        a = torch.where(others, p[l] / p[l, l], zero)  # (n,)
        a[l] = 1.0
        residual = torch.where(others, cov @ a, zero)  # (n,) half the gradient of Var(a·x)
        step = p @ residual - p[:, l] * ((p[l] @ residual) / p[l, l])  # (n,) S r
        a = a - torch.where(others, step, zero)
        return Relation(l, a, float(a @ self.stats.mean))

    def _obs_relation(self, l: int) -> Relation:
        """Structured OBS (ZipLM): a_l = 1, a_j = [H⁻¹]_lj / [H⁻¹]_ll on the living neurons,
        H = E[x xᵀ] uncentred and downdated; a_0 = 0 and literal (no intercept, no bias
        change). Eq. 42 with it is ZipLM's W ← W − W_:,l [H⁻¹]_l,: / [H⁻¹]_ll
        (:mod:`neuroplast.efficiency.baselines.obs`)."""
        p = self._precision
        zero = torch.zeros((), dtype=DTYPE)
        a = torch.where(self.alive, p[l] / p[l, l], zero)  # (n,)
        a[l] = 1.0
        return Relation(l, a, 0.0, centred=False)

    # -- greedy selection (rules lstsq and obs) ----------------------------------------
    def removal_costs(self) -> torch.Tensor:
        """E^c_l = (1/P_ll) Σ_i g_i w_il² of every living neuron now; +inf for removed ones.

        The weighted mean-square change of the consumer's pre-activation if neuron l were
        removed next with the ``lstsq`` rule (:mod:`neuroplast.efficiency.conditional`): P is
        the current (downdated) precision of the living neurons, w_l the current, already
        compensated column, g_i eq. 28's weights from the construction's statistics. Before
        any removal it equals the ``conditional`` measure. With rule ``obs`` P = H⁻¹ of the
        uncentred second moment and g_i = 1: structured OBS's ‖W_:,l‖² / [H⁻¹]_ll (the
        ``obs`` measure before any removal). Returns (n,) float64.

        Raises:
            NeuroplastError: for a rule other than ``lstsq`` or ``obs`` (the cost assumes
                their relation).
        """
        if self._precision is None:
            raise NeuroplastError(
                f"removal costs (measures conditional:greedy, obs:greedy) assume least-squares "
                f"compensation, but this re-wirer uses rule {self.rule.name}; use rule lstsq "
                "(conditional:greedy) or rule obs (obs:greedy), or a static measure such as "
                "'conditional' with another rule"
            )
        costs = conditional_efficiency(self.weight, self._precision, self._gain)  # (n,)
        return torch.where(self.alive, costs, torch.full_like(costs, torch.inf))

    def cheapest(self) -> tuple[int, float]:
        """The living neuron with the smallest :meth:`removal_costs` (first on a tie), its cost."""
        costs = self.removal_costs()  # (n,)
        l = int(torch.argmin(costs))
        return l, float(costs[l])

    # -- removal -----------------------------------------------------------------------
    def _rewire(self, weight3: torch.Tensor, bias: torch.Tensor, relation: Relation) -> None:
        """Apply eqs 42–43 for ``relation`` to ``weight3`` (m, n, K) and ``bias`` in place."""
        l = relation.neuron
        a, a_l = relation.coefficients, relation.coefficients[l]
        if weight3.shape[2] == 1 and self.stats.offset_mean is None:
            weight = weight3[:, :, 0]
            column = weight[:, l].clone()  # (m,) w_il
            weight.sub_(torch.outer(column, a / a_l))  # eq. 42
            bias += column * (relation.constant / a_l)  # eq. 43
        else:
            columns = weight3[:, l].clone()  # (m, K) w_ilδ
            weight3 -= columns.unsqueeze(1) * (a / a_l).view(1, -1, 1)  # eq. 42
            constants = torch.full((columns.shape[1],), relation.constant, dtype=DTYPE)
            if relation.centred:  # (K,) c_δ
                offsets = self.stats.means_per_offset - self.stats.mean.unsqueeze(1)  # (n, K)
                constants = constants + a @ offsets
            bias += columns @ constants / a_l  # eq. 43, summed over offsets
        weight3[:, l] = 0.0

    def trial(self, l: int, relation: Relation | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """The consumer's (W (m, n, K), b (m,)) if living neuron ``l`` were removed now; the
        re-wirer is not changed (a goal strategy evaluates the candidate first)."""
        relation = self.relation(l) if relation is None else relation
        weight3, bias = self.weight3.clone(), self.bias.clone()
        self._rewire(weight3, bias, relation)
        return weight3, bias

    def remove(self, l: int, relation: Relation | None = None) -> Relation:
        """Eliminate living neuron ``l``: update the consumer by eqs 42–43, mark it dead.

        Args:
            l: index of a living neuron.
            relation: the relation to use (default: :meth:`relation` of ``l`` now); a caller
                that evaluated a candidate relation first passes it back here.
        """
        if not self.alive[l]:
            raise NeuroplastError(f"neuron {l} of site {self.site!r} is already removed")
        if relation is None:
            relation = self.relation(l)
        elif relation.neuron != l or float(relation.coefficients[l]) == 0.0:
            raise NeuroplastError(
                f"the relation given eliminates neuron {relation.neuron}, not {l}; get it from "
                f"relation({l})"
            )
        self._rewire(self.weight3, self.bias, relation)
        self.alive[l] = False
        self._eigen = None
        if self._precision is not None:
            p = self._precision
            row = p[l].clone()  # (n,) P is symmetric: row l = column l
            p.addr_(row, row, alpha=-1.0 / float(row[l]))  # Schur complement, in place
            p[l], p[:, l] = 0.0, 0.0
            p[l, l] = 1.0
        return relation

    def remove_many(self, order: torch.Tensor | list[int]) -> list[Relation]:
        """Eliminate neurons one after another in the given order."""
        order = [int(i) for i in order]
        if len(set(order)) + int((~self.alive).sum()) >= self.stats.width:
            raise NeuroplastError(
                f"refusing to remove every neuron of site {self.site!r} (width "
                f"{self.stats.width}); keep at least one"
            )
        return [self.remove(l) for l in order]

    def _target_in(self, model: nn.Module | None) -> Site:
        """The site in ``model`` (default: the model the re-wirer was built on); in a copy of
        that model, the same modules by name (hand-declared sites included)."""
        if model is None or any(m is self.target.consumer for m in model.modules()):
            return self.target
        return rebind(self.target, self.model, model)

    def write(self, model: nn.Module | None = None) -> None:
        """Write the re-wired weights into the consumer without deleting anyone: dead neurons'
        columns are zero, so the model already computes the pruned function."""
        target = self._target_in(model)
        has_bias = target.consumer_bias() is not None
        target.write_consumer(self.weight3, self.bias if has_bias else None)

    def commit(self, model: nn.Module | None = None,
               optimizer: torch.optim.Optimizer | None = None) -> torch.Tensor:
        """Write the re-wired consumer into ``model`` (default: the re-wirer's own) and delete
        dead neurons physically; returns the kept indices."""
        target = self._target_in(model)
        self.write(model)
        keep = self.alive.nonzero().flatten()
        if keep.numel() < self.stats.width:
            target.keep(keep, optimizer)
        return keep
