"""Replication (eqs 44–49): a parent neuron splits into itself and a child.

The child c of a parent p copies p's incoming weights and bias (eq. 45), so x_c ≡ x_p (eq. 46),
and p's outgoing weights are shared between the two (eqs 47–49):

    w'_ip = χ_i w_ip,      w'_ic = (1 − χ_i) w_ip,      χ_i ~ Beta(α, α),

one χ_i per consumer neuron i. Since x_c = x_p, every consumer pre-activation is unchanged:
B1–B3 leave the network function exactly as it was (to float rounding). Methods
(REFERENCE §1.11):

* ``B1`` Beta(0.01, 0.01): χ almost always ≈ 0 or ≈ 1, a "maximally independent" child;
* ``B2`` Beta(1, 1): uniform χ;
* ``B3`` Beta(100, 100): χ ≈ 1/2, nearly the halving rule of eq. 44;
* ``B4`` random: a new neuron drawn from the initialiser's distribution (changes the output);
* ``B5`` none: nothing is added (the baseline);
* ``beta`` (any α > 0, default 0.01), ``random`` and ``none``: the generic forms.

Decisions where the paper is silent:

* **Parents** are the ``n`` neurons with the *largest* efficiency under the chosen measure
  (``connection`` = E_k, eq. 28, or ``covariance`` = E'_k, eq. 17; REFERENCE §1.11 reads the
  printed "smallest" as a typo), most efficient first; ties go to the lower index.
* **χ draws** are float64, parent-major: ``chi[r, i]`` is the χ_i of the r-th parent. They come
  from a ``torch.Generator`` seeded with ``seed`` (same seed, same model → same weights), via
  Marsaglia–Tsang gamma variates in log space, so Beta(0.01, 0.01) never produces 0/0.
* **Rounding**: the parent's new column is χ_i w_ip rounded to the model's dtype and the child's
  is w_ip minus that, so parent + child reproduces w_ip to one rounding.
* **B4** (REFERENCE §1.15 item 13): incoming weights ~ N(0, σ²) with σ the Xavier-normal std of
  the producer's *current* shape (``models.init.xavier_std(n_in, n_site)``), outgoing weights
  with the consumer's current shape (``xavier_std(n_site, n_out)``; fans of the stored weight,
  so a Conv2d's kernel counts on both sides and a flattened channel's H·W block on the input
  side only), and bias **0**, exactly as
  :func:`neuroplast.models.init.initialize` draws a fresh layer (its biases are zero). B4 has no
  parent; ``n`` is the number of neurons added.
* **Children** are appended at the end of the site, in the order of their parents.
* **Optimizer state** (SGD momentum, Adam moments): children's entries get the values a fresh
  optimizer gives a new parameter, 0 for these (:meth:`neuroplast.sites.Site.append`); the
  parents' outgoing columns are rescaled in place and keep their state. Not a copy of the
  parent's state, which would keep an even split even: measured under Adam, children with zero
  moments lower the loss 3–9 × more in the 500 steps after the split; under SGD with momentum
  the two do not differ (``python -m benchmarks.child_state``, docs/benchmarks/child-state.md;
  docs/decisions.md row 61). Zero moments in a running Adam are not a fresh Adam's start: its
  bias correction follows the parameter's shared step count, so the children take steps of a
  few times the learning rate for hundreds of steps; the run does not separate that from not
  inheriting the parent's moments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuroplast.checks import (
    check_integer,
    check_name,
    check_number,
    check_optimizer,
    check_seed,
)
from neuroplast.data import Split
from neuroplast.efficiency import MEASURES, efficiency
from neuroplast.efficiency.conditional import is_greedy
from neuroplast.errors import NeuroplastError
from neuroplast.models.checks import check_data
from neuroplast.models.init import xavier_std
from neuroplast.sites.resolve import resolve_site
from neuroplast.sites.site import Site
from neuroplast.stats import SiteStatistics, collect_site_statistics
from neuroplast.stats.site import Forward

DTYPE = torch.float64
DEFAULT_ALPHA = 0.01
"""α of the generic ``beta`` method when none is given (B1's)."""


# -- Beta(α, α) draws from a torch.Generator ---------------------------------------------------
def _log_gamma_draws(alpha: float, count: int, generator: torch.Generator) -> torch.Tensor:
    """log of ``count`` Gamma(α, 1) variates, float64 (Marsaglia & Tsang 2000).

    For α < 1 a Gamma(α + 1) draw is boosted by U^(1/α), kept in log space so that tiny α
    (α = 0.01 gives values like e^-300) never underflows.
    """
    boosted = alpha < 1.0
    shape = alpha + 1.0 if boosted else alpha
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(count, dtype=DTYPE)
    todo = torch.arange(count)
    while todo.numel() > 0:  # acceptance rate > 95 %: a few rounds at most
        x = torch.randn(todo.numel(), generator=generator, dtype=DTYPE)
        v = (1.0 + c * x) ** 3
        u = 1.0 - torch.rand(todo.numel(), generator=generator, dtype=DTYPE)  # (0, 1]
        log_v = torch.log(v.clamp_min(1e-300))
        accept = (v > 0) & (torch.log(u) < 0.5 * x**2 + d - d * v + d * log_v)
        out[todo[accept]] = math.log(d) + log_v[accept]
        todo = todo[~accept]
    if boosted:
        u = 1.0 - torch.rand(count, generator=generator, dtype=DTYPE)  # (0, 1]
        out += torch.log(u) / alpha
    return out


def sample_beta(alpha: float, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Draws of Beta(α, α) in [0, 1], float64: χ = G₁/(G₁ + G₂) with G ~ Gamma(α, 1).

    Args:
        alpha: α > 0 (B1 0.01, B2 1, B3 100).
        shape: output shape.
        generator: the source of randomness (seeded by the caller).
    """
    count = math.prod(shape)
    log_g1 = _log_gamma_draws(alpha, count, generator)
    log_g2 = _log_gamma_draws(alpha, count, generator)
    return torch.sigmoid(log_g1 - log_g2).reshape(shape)  # G1/(G1+G2), stable in log space


# -- methods -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GrowContext:
    """What a method needs to build new neurons.

    Attributes:
        site: the site (its producers and consumer are read, not modified).
        parents: (n,) parent indices (empty for methods without parents).
        n: number of neurons requested.
        alpha: the Beta parameter (None for methods without one).
        generator: seeded source of randomness.
        random_std: (incoming, outgoing) std of a random neuron's weights (B4), or None for
            Xavier-normal of the layers' current shapes.
    """

    site: Site
    parents: torch.Tensor
    n: int
    alpha: float | None
    generator: torch.Generator
    random_std: tuple[float, float] | None = None


@dataclass(frozen=True)
class Growth:
    """New neurons and, for splits, the parents' new outgoing columns.

    Attributes:
        upstream: one tensor per upstream axis of the site (``Site.upstream``), the new
            neurons' entries along that axis (producer rows, biases, BatchNorm entries, ...).
        outgoing_weight: (m, k, K) consumer weights of the new neurons.
        parent_outgoing: (m, n, K) the parents' new consumer weights, or None (unchanged).
        chi: (n, m) float64 χ draws, or None.
    """

    upstream: list[torch.Tensor]
    outgoing_weight: torch.Tensor
    parent_outgoing: torch.Tensor | None = None
    chi: torch.Tensor | None = None

    @property
    def count(self) -> int:
        return self.outgoing_weight.shape[1]


def _beta_split(ctx: GrowContext) -> Growth:
    """Child = copy of the parent's input side; outgoing w_ip → χ_i w_ip and (1 − χ_i) w_ip.

    On a convolution consumer the same χ_i splits every kernel position of output channel i,
    so parent and child still add up to the parent's old contribution everywhere.
    """
    weight = ctx.site.consumer_weight()  # (m, n_site, K)
    m, n = weight.shape[0], ctx.parents.numel()
    chi = sample_beta(ctx.alpha, (n, m), ctx.generator)  # (n, m)
    w = weight[:, ctx.parents]  # (m, n, K) w_ip
    parent_columns = (chi.T.unsqueeze(2) * w.to(DTYPE)).to(w.dtype)  # χ_i w_ip   (eq. 48)
    child_columns = w - parent_columns  # (1 − χ_i) w_ip                        (eq. 49)
    return Growth(
        upstream=ctx.site.upstream_entries(ctx.parents),  # copies of the input side (eq. 45)
        outgoing_weight=child_columns,
        parent_outgoing=parent_columns,
        chi=chi,
    )


def _fans(shape: tuple[int, ...], dim: int) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight whose neuron axis is ``dim`` (0: (out, in, *kernel), as
    Linear and Conv2d; 1: (in, out, *kernel), as Hugging Face Conv1D and a transposed
    convolution)."""
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    if dim == 0:
        return shape[1] * receptive, shape[0] * receptive
    return shape[0] * receptive, shape[1] * receptive


FRESH = {"bias": 0.0, "shift": 0.0, "running_mean": 0.0, "scale": 1.0, "running_var": 1.0}
"""A fresh neuron's entries for the upstream roles that are not weights (B4)."""


def _random_neurons(ctx: GrowContext) -> Growth:
    """B4: weights from the initialiser's Xavier-normal distribution (fans of the layers' current
    shapes) or with the stds ``ctx.random_std``, bias 0; a BatchNorm entry starts as a fresh
    BatchNorm's (scale 1, shift 0, running mean 0, running variance 1). The same generator draws
    the same standard normals whatever the stds, so two spreads of one seed differ by scale
    only."""
    site, k = ctx.site, ctx.n
    upstream = []
    for axis in site.upstream:
        tensor = axis.tensor.detach()
        shape = list(tensor.shape)
        shape[axis.dim] = k
        if axis.role == "weight":
            std = (xavier_std(*_fans(tuple(tensor.shape), axis.dim)) if ctx.random_std is None
                   else ctx.random_std[0])
            new = torch.randn(shape, generator=ctx.generator, dtype=DTYPE) * std
        elif axis.role in FRESH:
            new = torch.full(shape, FRESH[axis.role], dtype=DTYPE)
        else:
            raise NeuroplastError(f"cannot draw a random neuron for a tensor of role {axis.role}")
        upstream.append(new.to(tensor.dtype))
    weight = site.consumer_weight()  # (m, n, K)
    m, n, offsets = weight.shape
    # the fans of the consumer's stored weight: a Conv2d's K offsets are its kernel (fan_out
    # m·K), a Linear after Flatten reads K entries per neuron but has fan_out m; a Conv1D
    # consumer is stored (in, out), its neuron axis being dim 0
    consumer = site.view.axis()
    std_out = (xavier_std(*_fans(tuple(consumer.tensor.shape), 0 if consumer.dim == 1 else 1))
               if ctx.random_std is None else ctx.random_std[1])
    outgoing = torch.randn((m, k * offsets), generator=ctx.generator, dtype=DTYPE) * std_out
    return Growth(upstream, outgoing.reshape(m, k, offsets).to(weight.dtype))


def _nothing(ctx: GrowContext) -> Growth:
    """B5: no neuron is added."""
    upstream = []
    for axis in ctx.site.upstream:
        shape = list(axis.tensor.shape)
        shape[axis.dim] = 0
        upstream.append(axis.tensor.detach().new_zeros(shape))
    weight = ctx.site.consumer_weight()
    return Growth(upstream, weight.new_zeros((weight.shape[0], 0, weight.shape[2])))


@dataclass(frozen=True)
class ReplicationMethod:
    """A replication method's registry entry.

    Attributes:
        name: registry key (``B1``..``B5``, ``beta``, ``random``, ``none``).
        description: one line for ``neuroplast methods``.
        reference: the paper's section and equations.
        grow: builds the new neurons from a :class:`GrowContext`.
        alpha: the α a preset fixes (B1–B3), or None.
        takes_alpha: the caller chooses α (generic ``beta``).
        uses_parents: new neurons are children of parents chosen by efficiency.
        preserves_function: the network function is unchanged at the moment of replication.
        takes_random_std: the new neurons are random, and the caller may set their spread
            (``random_std``).
        adds_neurons: the method adds any neuron at all (B5 and ``none`` add nothing, so a
            count or a seed means nothing to them).
    """

    name: str
    description: str
    reference: str
    grow: Callable[[GrowContext], Growth]
    alpha: float | None = None
    takes_alpha: bool = False
    uses_parents: bool = True
    preserves_function: bool = True
    takes_random_std: bool = False
    adds_neurons: bool = True


METHODS: dict[str, ReplicationMethod] = {
    m.name: m
    for m in (
        ReplicationMethod("B1", "split outgoing weights with chi ~ Beta(0.01, 0.01)",
                          "sect. 4.2, 5.6; eqs 44-49", _beta_split, alpha=0.01),
        ReplicationMethod("B2", "split outgoing weights with chi ~ Beta(1, 1) (uniform)",
                          "sect. 4.2, 5.6; eqs 44-49", _beta_split, alpha=1.0),
        ReplicationMethod("B3", "split outgoing weights with chi ~ Beta(100, 100) (~halving)",
                          "sect. 4.2, 5.6; eqs 44-49", _beta_split, alpha=100.0),
        ReplicationMethod("B4", "add a neuron with Xavier-normal weights and zero bias",
                          "sect. 5.6 'random'", _random_neurons, uses_parents=False,
                          preserves_function=False, takes_random_std=True),
        ReplicationMethod("B5", "add nothing (baseline)", "sect. 5.6 'original'", _nothing,
                          uses_parents=False, adds_neurons=False),
        ReplicationMethod("beta", "split outgoing weights with chi ~ Beta(alpha, alpha)",
                          "eqs 44-49", _beta_split, takes_alpha=True),
        ReplicationMethod("random", "same as B4", "sect. 5.6", _random_neurons,
                          uses_parents=False, preserves_function=False, takes_random_std=True),
        ReplicationMethod("none", "same as B5", "sect. 5.6", _nothing, uses_parents=False,
                          adds_neurons=False),
    )
}


def check_random_std(random_std: Any, spec: ReplicationMethod,
                     ) -> tuple[float, float] | None:
    """``random_std`` as two floats, checked: only a method that draws random neurons takes it.

    Raises:
        NeuroplastError: ``random_std`` for another method, or not two positive finite numbers.
    """
    if random_std is None:
        return None
    if not spec.takes_random_std:
        raise NeuroplastError(f"random_std sets the spread of a random neuron (B4); method "
                              f"{spec.name} draws none: leave random_std out")
    try:
        stds = () if isinstance(random_std, str) else tuple(
            float(v) for v in random_std if not isinstance(v, bool))
    except (TypeError, ValueError):
        stds = ()
    if len(stds) != 2 or not all(math.isfinite(v) and v > 0 for v in stds):
        raise NeuroplastError(f"random_std must be (incoming std, outgoing std), two positive "
                              f"finite numbers; got {random_std!r}")
    return stds[0], stds[1]


def check_request(spec: ReplicationMethod, parents: Any, n: int | None,
                  measure: str | None) -> None:
    """Refuse arguments the method would ignore (the public :func:`neuroplast.replicate` and
    the ``grow`` commands refuse them; the experiments pass one measure to every method).

    Raises:
        NeuroplastError: parents or a measure for a method that picks no parents (B4, B5,
            ``none``), ``n`` for one that adds no neuron, a measure beside explicit parents.
    """
    if not spec.uses_parents and parents is not None:
        raise NeuroplastError(f"method {spec.name} picks no parents, so parents would be "
                              "ignored; leave them out" + (" (n says how many neurons to add)"
                                                           if spec.adds_neurons else ""))
    if not spec.adds_neurons and n is not None:
        raise NeuroplastError(f"method {spec.name} adds no neuron, so n would be ignored; "
                              "leave it out")
    if measure is not None and not spec.uses_parents:
        raise NeuroplastError(f"method {spec.name} picks no parents, so no measure ranks them; "
                              "leave measure out")
    if measure is not None and parents is not None:
        raise NeuroplastError("the parents are given, so no measure ranks them; leave measure "
                              "out, or leave parents out to choose them by the measure")


def resolve_method(name: str, alpha: float | None = None) -> tuple[ReplicationMethod, float | None]:
    """The method called ``name`` (case-insensitive) and the α it will use.

    Raises:
        NeuroplastError: for an unknown name, an α that contradicts a preset (B1–B3), an α
            given to a method without one, or α ≤ 0.
    """
    key = next((k for k in METHODS if k.lower() == name.lower()), None)
    if key is None:
        raise NeuroplastError(
            f"unknown replication method {name!r}; choose one of: {', '.join(METHODS)}"
        )
    method = METHODS[key]
    if alpha is not None:
        alpha = check_number(alpha, "alpha")
        if alpha <= 0:
            raise NeuroplastError(f"alpha must be a positive number, got {alpha:g}")
    if method.alpha is not None:
        if alpha is not None and alpha != method.alpha:
            raise NeuroplastError(
                f"method {method.name} fixes alpha = {method.alpha:g}; use method 'beta' with "
                f"alpha {alpha:g} for another value"
            )
        return method, method.alpha
    if not method.takes_alpha:
        if alpha is not None:
            raise NeuroplastError(f"method {method.name!r} takes no alpha; leave it out")
        return method, None
    return method, DEFAULT_ALPHA if alpha is None else alpha


# -- parents -----------------------------------------------------------------------------------
def site_statistics_for(model: nn.Module, site: Site | str, data: Split,
                        measure: str, forward: Forward | None = None) -> SiteStatistics:
    """Statistics of ``site`` over ``data`` with the covariance if ``measure`` needs it
    (``forward`` runs the model on a batch, :func:`neuroplast.find_sites`)."""
    needs_covariance = MEASURES.get(measure)[0].needs_covariance
    return collect_site_statistics(model, site, data, covariance=needs_covariance,
                                   forward=forward)


def most_efficient_neurons(model: nn.Module, site: Site | str, n: int, *,
                           measure: str = "connection",
                           stats: SiteStatistics | None = None,
                           data: Split | None = None,
                           forward: Forward | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n`` neurons of ``site`` with the largest efficiency, most efficient first.

    Args:
        model: the network.
        site: a site name.
        n: how many, 1 ≤ n ≤ width.
        measure: an efficiency measure (``connection`` = E_k eq. 28, ``covariance`` = E'_k).
        stats: statistics of the site on the current model; collected from ``data`` if None.
        data: the training data (for statistics, and for measures that need data).
        forward: how to run the model on a batch (several inputs; see
            :func:`neuroplast.find_sites`).

    Returns:
        (indices (n,), their efficiencies (n,) float64). Ties go to the lower index.
    """
    if is_greedy(measure):
        raise NeuroplastError(
            f"{measure!r} is a greedy selection of neurons to remove, not a ranking of "
            f"parents; use measure '{measure.partition(':')[0]}' (the same scores, static) or "
            "'connection'"
        )
    target = resolve_site(model, site, data, forward)
    site = target.name
    width = target.width
    if not 1 <= n <= width:
        raise NeuroplastError(
            f"cannot choose {n} distinct parents on site {site!r} of width {width}; "
            f"choose n between 1 and {width}"
        )
    if stats is None:
        if data is None:
            raise NeuroplastError(
                "choosing parents by efficiency needs statistics or data; pass stats= or "
                "data= (the training split), or give the parents explicitly"
            )
        stats = site_statistics_for(model, target, data, measure, forward)
    if stats.width != width:
        raise NeuroplastError(
            f"statistics are for {stats.width} neurons but site {site!r} has {width}; "
            "collect them again on the current model"
        )
    scores = efficiency(measure, model, target, stats, data)  # (width,)
    order = torch.argsort(scores, descending=True, stable=True)[:n]  # (n,)
    return order, scores[order]


def _check_parents(parents: torch.Tensor | list[int], width: int, site: str) -> torch.Tensor:
    if not (torch.is_tensor(parents) or isinstance(parents, list | tuple | range)):
        raise NeuroplastError(f"parents must be a list (or tensor) of neuron indices, got "
                              f"{type(parents).__name__}; a set has no order: sort it")
    parents = torch.as_tensor(parents)
    if parents.dtype.is_floating_point or parents.dtype == torch.bool or parents.dim() > 1:
        raise NeuroplastError("parents must be a 1-D list of integer neuron indices")
    parents = parents.to(torch.long).flatten()
    if parents.numel() == 0:
        raise NeuroplastError("give at least one parent")
    if parents.min() < 0 or parents.max() >= width:
        raise NeuroplastError(
            f"parent indices must lie in [0, {width}) for site {site!r}, got "
            f"{parents.tolist()}"
        )
    if parents.unique().numel() != parents.numel():
        raise NeuroplastError(
            f"parents must be distinct, got {parents.tolist()}; to give one neuron several "
            "children, replicate several times"
        )
    return parents


# -- replication -------------------------------------------------------------------------------
def growable_site(model: nn.Module, site: Site | str, data: Split | None = None,
                  forward: Forward | None = None) -> Site:
    """The site ``site`` if neurons can be added to it (not ``input``).

    Raises:
        NeuroplastError: for an unknown site or an input site (data features have no incoming
            weights to copy).
    """
    target = resolve_site(model, site, data, forward)
    if not target.can_grow:
        raise NeuroplastError(
            f"the input site cannot replicate ({target.name!r}: its neurons are data features, "
            "with no incoming weights to copy); choose a hidden site"
        )
    return target


@dataclass(frozen=True)
class ReplicationResult:
    """What one replication did.

    Attributes:
        site: the site name.
        method: the method's registry name.
        alpha: the Beta parameter used (None for methods without one).
        parents: (n,) parent indices (in the site before replication); empty for B4/B5 unless
            given explicitly.
        children: (k,) indices of the new neurons in the grown site (appended at the end).
        chi: (n, m) float64 χ draws (row r: parent r, column i: consumer neuron i), or None.
        width_before: site width before.
        width_after: site width after.
        measure: the measure that chose the parents (None when they were given).
        parent_efficiency: (n,) the parents' efficiencies under ``measure``, or None.
    """

    site: str
    method: str
    alpha: float | None
    parents: torch.Tensor
    children: torch.Tensor
    chi: torch.Tensor | None
    width_before: int
    width_after: int
    measure: str | None = None
    parent_efficiency: torch.Tensor | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no χ matrix) for metadata and logs."""
        return {
            "site": self.site, "method": self.method, "alpha": self.alpha,
            "parents": self.parents.tolist(), "children": self.children.tolist(),
            "width_before": self.width_before, "width_after": self.width_after,
            "measure": self.measure,
        }


def replicate(model: nn.Module, site: Site | str,
              parents: torch.Tensor | list[int] | None = None, *,
              n: int | None = None, method: str = "beta", alpha: float | None = None,
              measure: str = "connection", stats: SiteStatistics | None = None,
              data: Split | None = None, seed: int = 0,
              optimizer: torch.optim.Optimizer | None = None,
              random_std: tuple[float, float] | None = None,
              forward: Forward | None = None) -> ReplicationResult:
    """Replicate ``n`` parents of a hidden site at once (eqs 44–49), in place.

    Args:
        model: the network, modified in place (parameters keep their identity).
        site: a hidden site (``hidden1``, ...); ``input`` cannot grow.
        parents: distinct parent indices; if None, the ``n`` most efficient neurons under
            ``measure`` (needs ``stats`` or ``data``). Ignored by B4/B5 except for the record.
        n: number of parents / new neurons (default 1, or ``len(parents)``).
        method: ``B1``..``B5``, ``beta``, ``random`` or ``none`` (see :data:`METHODS`).
        alpha: α of Beta(α, α) for ``beta`` (default 0.01); presets fix their own.
        measure: efficiency measure that ranks the parents (``connection`` or ``covariance``).
        stats: statistics of the site on the current model (saves a pass over ``data``).
        data: training data for the statistics (and measures needing data).
        seed: seeds the χ draws (B1–B3) or the random weights (B4).
        optimizer: its state is resized: children get zero state, the rest is kept.
        random_std: B4/``random`` only: the (incoming, outgoing) standard deviation of the new
            neurons' weights, for a spread other than the default Xavier-normal of the layers'
            current shapes ("the same distribution as other weights" is open, REFERENCE §1.15
            item 13); the draws are the same standard normals, scaled.
        forward: how to run the model on one batch of ``data`` (a model with several inputs;
            see :func:`neuroplast.find_sites`).

    Returns:
        A :class:`ReplicationResult`.

    Raises:
        NeuroplastError: for the ``input`` site, invalid or repeated parents, n out of range,
            an unknown method or a bad α, parents to choose without statistics or data, or a
            ``random_std`` given to a method that draws no random neuron or not two positive
            finite numbers.
    """
    n, seed = None if n is None else check_integer(n, "n"), check_seed(seed)
    check_data(model, data, "data")
    check_optimizer(optimizer)
    spec, alpha = resolve_method(check_name(method, "method", "'B1' or 'beta'"), alpha)
    random_std = check_random_std(random_std, spec)
    target = growable_site(model, site, data, forward)
    site = target.name
    width = target.width
    chosen_by, scores = None, None
    if parents is not None:
        parents = _check_parents(parents, width, site)
        if n is not None and n != parents.numel():
            raise NeuroplastError(
                f"n = {n} but {parents.numel()} parents were given; leave n out or make them agree"
            )
        n = parents.numel()
    else:
        n = 1 if n is None else int(n)
        if n < 1:
            raise NeuroplastError(f"n must be a positive number of neurons, got {n}")
        if spec.uses_parents:
            parents, scores = most_efficient_neurons(model, target, n, measure=measure,
                                                     stats=stats, data=data, forward=forward)
            chosen_by = measure
        else:
            parents = torch.zeros(0, dtype=torch.long)

    generator = torch.Generator().manual_seed(int(seed))
    growth = spec.grow(GrowContext(target, parents, n, alpha, generator, random_std))
    if growth.parent_outgoing is not None:  # the parents' columns rescaled, state kept
        weight = target.consumer_weight().clone()  # (m, n, K)
        weight[:, parents] = growth.parent_outgoing
        target.view.write_weight(weight)
    k = growth.count
    if k > 0:
        target.append(growth.upstream, growth.outgoing_weight, optimizer)
    return ReplicationResult(
        site=site, method=spec.name, alpha=alpha, parents=parents,
        children=torch.arange(width, width + k), chi=growth.chi,
        width_before=width, width_after=width + k, measure=chosen_by, parent_efficiency=scores,
    )
