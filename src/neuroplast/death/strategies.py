"""Pruning strategies: how many neurons of a site die, and which (paper §4.1, §5.2–5.4).

A strategy ranks the neurons of one site by an efficiency measure (small = expendable), removes
the least efficient ones with a re-wiring rule (:mod:`neuroplast.death.rules`) and deletes them
physically (:mod:`neuroplast.surgery`). Every strategy works for the ``input`` site and every
hidden site, with every rule and every registered measure. Exactly one of:

* ``cutoff=ε``: remove every neuron with efficiency E < ε (strict, so ε = 0 removes nothing;
  REFERENCE §1.15 item 11), ranked from one set of statistics (item 10, the paper's reading);
* ``relative_cutoff=r``: the same with ε = r · max_k E_k of the site (§5.4, Figs 12–15, 18);
* ``amount``: an int removes that many neurons, a float that fraction of the site
  (``round(amount · width)``, as ``torch.nn.utils.prune``);
* ``goal_accuracy=g`` / ``goal_loss=h``: remove the least efficient neuron, one at a time, while
  the training accuracy stays ≥ g (the loss ≤ h); the removal that breaks the goal is undone
  (§5.2, Fig. 6: the reported accuracies sit just above the goals).

Options: ``max_fraction`` caps the neurons removed per call (floor(max_fraction · width)),
``recompute=True`` collects the statistics and efficiencies again after every removal (removing
a neuron changes the consumer's variances C_ii and so the other neurons' E_k). A request that
would remove every neuron of a site is refused; goal strategies stop at one neuron instead.

**Greedy selection** (measure ``conditional:greedy``, rule ``lstsq`` only;
:mod:`neuroplast.efficiency.conditional`). Every strategy removes, one at a time, the living
neuron whose removal costs least *now*, E^c_l = (1/P_ll) Σ_i g_i w_il² with the re-wirer's
current compensated weights and downdated precision (:meth:`Rewirer.removal_costs`), instead
of following a ranking fixed before the first removal; the statistics stay those of the first
ranking. A cutoff compares each removal's current cost with ε (a relative cutoff takes ε from
the first costs). With ``recompute`` the costs are those of the ``conditional`` measure on
statistics collected again after each removal, which is the same greedy selection with g_i
refreshed. ``obs:greedy`` (rule ``obs`` only; :mod:`neuroplast.efficiency.baselines.obs`) is
the same procedure for structured OBS (ZipLM): g_i = 1 and P = H⁻¹ of the uncentred second
moment.

**Any model.** ``site`` is a :class:`~neuroplast.sites.Site` (from
:func:`neuroplast.find_sites`, or declared by hand) or a site name; ``data`` is any iterable of
input batches (tensors, ``(input, target)`` pairs, dicts of keyword inputs, a DataLoader) or a
``Split``; ``forward(model, batch)`` runs a model with several inputs. Goal strategies evaluate
candidates from cached site values where the site has a cheap downstream (the paper's MLP,
:mod:`neuroplast.death.cached`) and on the whole model otherwise, with ``evaluate(model) ->
(accuracy, loss)`` or, for labelled data, classification accuracy and cross-entropy
(:mod:`neuroplast.death.evaluation`). A rule that moves the consumer's bias (A1, A2, A3,
lstsq; not ``obs`` or ``none``) on a consumer without one adds a zero bias first
(``add_bias=True``; the result's ``bias_added`` says so) or refuses (``add_bias=False``).

The request is validated by :mod:`neuroplast.death.request`, the neurons chosen by
:mod:`neuroplast.death.selection`, re-wired by :mod:`neuroplast.death.rules` and deleted by
the site (:meth:`~neuroplast.sites.Site.keep`).
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from neuroplast.checks import MAX_SEED, check_name, check_number, check_optimizer, check_seed
from neuroplast.cost import count_macs_per_example, count_parameters
from neuroplast.data import Split
from neuroplast.death.evaluation import Evaluate
from neuroplast.death.request import (
    Strategy,
    check_not_emptying,
    make_strategy,
    removal_cap,
)
from neuroplast.death.result import PruneResult
from neuroplast.death.rules import get_rule
from neuroplast.death.selection import Selection
from neuroplast.efficiency import MEASURES
from neuroplast.efficiency.conditional import is_greedy
from neuroplast.errors import NeuroplastError
from neuroplast.models.checks import check_data
from neuroplast.sites.resolve import first_batch, resolve_site
from neuroplast.sites.site import Site
from neuroplast.stats.site import (
    Forward,
    SiteStatistics,
    default_forward,
    model_device_dtype,
    to_model,
)
from neuroplast.train import Checkpoint, Protocol, evaluate, train

__all__ = [
    "PruneResult", "Strategy", "make_strategy", "prune", "prune_cycles", "prune_retrain_cycles",
    "removal_cap",
]


# -- the strategies ------------------------------------------------------------------------


def prune(model: nn.Module, site: Site | str, split: Any, *, rule: str = "A1",
          measure: str | None = None, cutoff: float | None = None,
          relative_cutoff: float | None = None, amount: int | float | None = None,
          goal_accuracy: float | None = None, goal_loss: float | None = None,
          max_fraction: float | None = None, recompute: bool = False,
          optimizer: torch.optim.Optimizer | None = None,
          stats: SiteStatistics | None = None, evaluate: Evaluate | None = None,
          forward: Forward | None = None, add_bias: bool = True) -> PruneResult:
    """Remove the least efficient neurons of ``site`` with a re-wiring rule; see module doc.

    The model is changed in place only when the call succeeds: producer rows and consumer
    columns are deleted, the consumer re-wired by eqs 42–43, ``optimizer``'s state resized.
    A call that fails (bad data, a request that would empty the site, an ``evaluate`` that
    raises) leaves the model, ``optimizer`` and the surgery record as they were — a zero bias
    it gave the consumer is taken back — with one exception: ``recompute`` on a site without a
    cached downstream removes each neuron physically before collecting statistics again, so
    a failure there keeps the removals made before it (and the bias they moved).

    Args:
        model: the network, modified in place.
        site: a :class:`~neuroplast.sites.Site` or a site name (``input``, ``hidden<k>`` for
            the paper's MLP; discovered names for other models).
        split: calibration data (see the module doc): statistics, data-driven measures and
            goals use it.
        rule: ``A1``, ``A2``, ``A3``, ``A3-appendix``, ``lstsq``, ``obs`` or ``none``.
        measure: an efficiency measure name (default: the rule's, E_k for A1/A2/none and E'_k
            for A3/lstsq, obs:greedy for obs); any registered measure works with any rule,
            except the greedy selections ``conditional:greedy`` and ``obs:greedy``, which
            need rule ``lstsq`` and ``obs`` respectively (module doc).
        cutoff: remove every neuron with efficiency < cutoff.
        relative_cutoff: remove every neuron with efficiency < relative_cutoff · max efficiency
            (with ``recompute`` the threshold is fixed from the first ranking).
        amount: int = number of neurons, float = fraction of the width.
        goal_accuracy: remove while the training accuracy stays ≥ this.
        goal_loss: remove while the mean training cross-entropy stays ≤ this.
        max_fraction: remove at most floor(max_fraction · width) neurons in this call.
        recompute: recompute statistics and efficiencies after every removal.
        optimizer: an optimizer over ``model``'s parameters whose state follows the surgery.
        stats: statistics of ``site`` over ``split`` to use for the first ranking (with the
            covariance when the rule or measure needs it); collected when None.
        evaluate: for goals on sites without a cached downstream, ``model -> (accuracy,
            loss)``; default: accuracy and cross-entropy on labelled ``split``.
        forward: ``forward(model, batch)`` runs the model on one batch (several inputs).
        add_bias: give a bias-free consumer a zero bias when the rule needs one (recorded in
            the result); False refuses instead.

    Returns:
        A :class:`PruneResult`.

    Raises:
        NeuroplastError: invalid arguments, a greedy selection with a rule other than its own
            (``conditional:greedy`` needs ``lstsq``, ``obs:greedy`` ``obs``), or a request
            that would remove every neuron.
    """
    check_name(rule, "rule", "'A1' or 'lstsq'")
    check_data(model, split, "split")
    check_optimizer(optimizer)
    started = time.perf_counter()
    rule_info = get_rule(rule)
    measure = measure or rule_info.default_measure
    measure_info, _ = MEASURES.get(measure)
    greedy = is_greedy(measure)
    if greedy and rule_info.name != measure_info.greedy_rule:
        wanted = measure_info.greedy_rule
        raise NeuroplastError(
            f"measure {measure} is a greedy selection whose costs assume rule {wanted}'s "
            f"compensation and works with rule {wanted} only, got rule {rule_info.name}; pass "
            f"rule='{wanted}' (--rule {wanted}), or use the static ranking "
            f"'{measure_info.name}' with another rule"
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    target = resolve_site(model, site, split, forward)
    width = target.width
    strategy = make_strategy(width=width, cutoff=cutoff, relative_cutoff=relative_cutoff,
                             amount=amount, goal_accuracy=goal_accuracy, goal_loss=goal_loss)
    cap = removal_cap(max_fraction, width)
    check_not_emptying(strategy, width, cap, target.name)
    if stats is not None and not isinstance(stats, SiteStatistics):
        raise TypeError(
            f"stats must be SiteStatistics (collect_site_statistics(model, site, data)) or None "
            f"to collect them, got {type(stats).__name__}"
        )
    if stats is not None and stats.width != width:
        raise NeuroplastError(
            f"statistics are for {stats.width} neurons but site {target.name!r} has {width}; "
            "collect them again"
        )
    covariance = rule_info.needs_covariance or measure_info.needs_covariance
    example = first_batch(split)
    device, dtype = model_device_dtype(model)
    example = to_model(example, device, dtype)
    run_forward = forward or default_forward
    before = (count_parameters(model), count_macs_per_example(model, example, run_forward))
    bias_added = False
    if target.consumer_bias() is None and rule_info.moves_bias:
        if not add_bias:
            raise NeuroplastError(
                f"rule {rule_info.name} compensates through the consumer's bias, but "
                f"{type(target.consumer).__name__} of site {target.name!r} has none and "
                "add_bias=False; allow a bias (add_bias=True, --add-bias) or use rule 'none'"
            )
        bias_added = target.add_consumer_bias(optimizer)
    run = Selection(model, target, split, rule_info.name, measure, strategy, cap, covariance,
                    stats, greedy, forward, evaluate)
    procedure = run.sequential if recompute else run.goal if strategy.is_goal else run.one_shot
    try:
        outcome = procedure(optimizer)
    except BaseException:
        if bias_added:
            try:  # the user's error is what they see, whatever happens here
                target.remove_added_consumer_bias(optimizer)
            except Exception:  # noqa: BLE001, S110
                pass
        raise
    return PruneResult(
        site=target.name, rule=rule_info.name, measure=measure, strategy=strategy.kind,
        value=strategy.value, threshold=run.threshold, recompute=recompute,
        removed=tuple(outcome.removed), kept=tuple(outcome.kept), width_before=width,
        width_after=target.width, efficiencies=tuple(run.first_efficiencies.tolist()),
        removal_efficiencies=tuple(outcome.removal_efficiencies),
        parameters_before=before[0], parameters_after=count_parameters(model),
        macs_before=before[1], macs_after=count_macs_per_example(model, example, run_forward),
        seconds=time.perf_counter() - started, accuracy_before=outcome.accuracy_before,
        loss_before=outcome.loss_before, accuracy=outcome.accuracy, loss=outcome.loss,
        bias_added=bias_added,
    )


# -- prune and retrain ---------------------------------------------------------------------


RETRAIN_SEED_STEP = 1000
"""Cycle k's retraining shuffles with ``seed + RETRAIN_SEED_STEP · k``."""


def _check_cycles(cycles: int, retrain_paper_epochs: float = 0.0, seed: int = 0,
                  retrain_last: bool = False) -> None:
    """Refuse a cycle count that is not an integer ≥ 1, a negative retraining length, or a
    ``seed`` whose last retraining's seed (``seed + 1000 · k`` for the last retrained cycle k:
    ``cycles`` with ``retrain_last``, else ``cycles − 1``) leaves 0 … 2**63 − 1 — before the
    first prune, not after some cycles' work."""
    if isinstance(cycles, bool) or not isinstance(cycles, numbers.Integral) or cycles < 1:
        raise NeuroplastError(f"cycles must be an integer >= 1, got {cycles!r}")
    if check_number(retrain_paper_epochs, "retrain_paper_epochs") < 0:
        raise NeuroplastError(f"retrain_paper_epochs must be >= 0, got {retrain_paper_epochs}")
    last = cycles if retrain_last else cycles - 1
    if retrain_paper_epochs > 0 and last >= 1 and \
            check_seed(seed) + RETRAIN_SEED_STEP * last > MAX_SEED:
        raise NeuroplastError(
            f"seed {seed}: cycle {last}'s retraining would be seeded with seed + "
            f"{RETRAIN_SEED_STEP} × {last}, above 2**63 - 1; give a seed of at most "
            f"{MAX_SEED - RETRAIN_SEED_STEP * last}")


def _metrics_after_prune(model: nn.Module, split: Split,
                         test_split: Split | None) -> dict[str, Any]:
    """Training-split (and test-split) loss and accuracy of ``model`` right after a prune."""
    after = evaluate(model, split).as_dict("train")  # type: ignore[arg-type]
    if test_split is not None:
        after |= evaluate(model, test_split).as_dict("test")  # type: ignore[arg-type]
    return after


RetrainCheckpoints = Callable[[int], Checkpoint | None]
"""cycle → the checkpoint of the retraining after that cycle's prune (or None)."""


def prune_cycles(model: nn.Module, site: str, split: Split, protocol: Protocol, *, cycles: int,
                 retrain_paper_epochs: float, seed: int, test_split: Split | None = None,
                 optimizer: torch.optim.Optimizer | None = None, retrain_last: bool = False,
                 progress: bool | None = False,
                 checkpoints: RetrainCheckpoints | None = None,
                 **prune_kwargs: Any) -> list[PruneResult]:
    """Prune, retrain, prune again, … (paper §5.2, Figs 5 and 6).

    Cycle 1 is the initial prune; each later cycle retrains ``retrain_paper_epochs`` and prunes
    again with the same arguments, so ``cycles=K`` is the initial prune plus (K − 1) ×
    (retrain + prune): the paper's Fig. 5 is ``cycles=2`` (prune, retrain 500, prune) and its
    Fig. 6 (initial pruning plus five iterations) is ``cycles=6``. With ``retrain_last`` the
    model is also retrained after the last prune (Fig. 7: prune inputs, then retrain 500).

    Args:
        model: the network, modified in place.
        site: the site to prune.
        split: training data (pruning statistics, goals and retraining).
        protocol: the training protocol for retraining.
        cycles: number of prunes, ≥ 1.
        retrain_paper_epochs: retraining length between prunes, in the paper's epochs.
        seed: seeds the retraining's shuffling (cycle k uses ``seed + 1000 k``).
        test_split: also evaluated after each prune and retraining.
        optimizer: carried through surgery and retraining (default: a new protocol optimizer
            per retraining, which for the paper's momentum-free SGD is the same thing).
        retrain_last: also retrain after the last prune.
        progress: progress bar during retraining.
        checkpoints: ``checkpoints(cycle)`` gives the checkpoint of the retraining after prune
            ``cycle`` (or None), so that a run killed in a retraining continues it when called
            again: the prunes are deterministic and recomputed, and each retraining continues
            from its last save (at most ``every_s`` of it is trained again, to the same numbers;
            :mod:`neuroplast.train.checkpoint`). Pass checkpoints with ``remove_at_end=False``
            and remove them once the result is stored.
        **prune_kwargs: passed to :func:`prune` (rule, measure, strategy, max_fraction, ...).

    Returns:
        One :class:`PruneResult` per cycle, with ``after`` (metrics right after the prune) and
        ``retrain`` (metrics after the retraining that followed it, or None).
    """
    _check_cycles(cycles, retrain_paper_epochs, seed, retrain_last)
    results: list[PruneResult] = []
    for cycle in range(1, cycles + 1):
        result = prune(model, site, split, optimizer=optimizer, **prune_kwargs)
        after = _metrics_after_prune(model, split, test_split)
        retrained = None
        if retrain_paper_epochs > 0 and (cycle < cycles or retrain_last):
            history = train(model, split, protocol, epochs=protocol.epochs(retrain_paper_epochs),
                            seed=seed + RETRAIN_SEED_STEP * cycle, test_split=test_split,
                            optimizer=optimizer, progress=progress,
                            checkpoint=None if checkpoints is None else checkpoints(cycle))
            retrained = dict(history.final)
        results.append(replace(result, after=after, retrain=retrained))
    return results


def prune_cycles_together(models: Sequence[nn.Module], site: str, split: Split,
                          protocol: Protocol, *, cycles: int, retrain_paper_epochs: float,
                          seed: int, prune_kwargs: Sequence[Mapping[str, Any]],
                          test_split: Split | None = None,
                          retrain_last: bool = False,
                          checkpoints: RetrainCheckpoints | None = None,
                          ) -> list[list[PruneResult]]:
    """:func:`prune_cycles` on several models at once, in lock-step, one prune setting each.

    ``result[i]`` is what ``prune_cycles(models[i], site, split, protocol, cycles=cycles,
    retrain_paper_epochs=..., seed=seed, **prune_kwargs[i])`` returns, to float rounding:
    the prunes are the same calls, and since every chain's retraining in cycle k uses the
    same shuffling seed (``seed + 1000 k``), the cycle's retrainings see the same batches and
    are trained as one fused model when they can be
    (:func:`neuroplast.train.fused.train_together`: copies of one MLP pruned to different
    widths or inputs). Each retraining's ``wall_time_s`` is then its share of the fused time.
    ``checkpoints(cycle)`` gives the checkpoint of cycle ``cycle``'s retraining, as in
    :func:`prune_cycles`.

    Raises:
        NeuroplastError: bad cycle count or retraining length, or not one ``prune_kwargs``
            per model.
    """
    from neuroplast.train.fused import train_together

    _check_cycles(cycles, retrain_paper_epochs, seed, retrain_last)
    if len(prune_kwargs) != len(models):
        raise NeuroplastError(f"give one prune setting per model: {len(models)} models, "
                              f"{len(prune_kwargs)} settings")
    results: list[list[PruneResult]] = [[] for _ in models]
    for cycle in range(1, cycles + 1):
        pruned = []
        for model, kwargs in zip(models, prune_kwargs, strict=True):
            result = prune(model, site, split, **kwargs)
            pruned.append(replace(result, after=_metrics_after_prune(model, split, test_split)))
        retrained: list[dict[str, Any] | None] = [None] * len(models)
        if retrain_paper_epochs > 0 and (cycle < cycles or retrain_last):
            histories = train_together(models, split, protocol,
                                       epochs=protocol.epochs(retrain_paper_epochs),
                                       seed=seed + RETRAIN_SEED_STEP * cycle, test_split=test_split,
                                       checkpoint=None if checkpoints is None
                                       else checkpoints(cycle))
            retrained = [dict(history.final) for history in histories]
        for chain, result, metrics in zip(results, pruned, retrained, strict=True):
            chain.append(replace(result, retrain=metrics))
    return results


Retrain = Callable[[nn.Module, int], Mapping[str, Any] | None]
"""The caller's retraining between prunes: (model, cycle) → metrics to record, or None."""


def prune_retrain_cycles(model: nn.Module, site: Site | str, data: Any, *, cycles: int,
                         retrain: Retrain, retrain_last: bool = False,
                         optimizer: torch.optim.Optimizer | None = None,
                         **prune_kwargs: Any) -> list[PruneResult]:
    """Prune, let the caller retrain, prune again, … on any model (the general form of
    :func:`prune_cycles`, whose retraining is neuroplast's own loop for the paper's MLP).

    Args:
        model: the network, modified in place.
        site: a :class:`~neuroplast.sites.Site` or its name.
        data: calibration data for every prune (see :func:`prune`).
        cycles: number of prunes, ≥ 1.
        retrain: called as ``retrain(model, cycle)`` after each prune but the last (and after
            the last with ``retrain_last``); it trains with the caller's own loop (using
            ``optimizer``, whose state the surgery keeps consistent) and may return metrics,
            stored as the result's ``retrain``: a mapping as it is, a number (e.g. the loss)
            as ``{"value": number}``, None as None; anything else is refused (after that
            retraining: the results so far are in the exception's ``results``).
        retrain_last: also retrain after the last prune.
        optimizer: passed to every prune.
        **prune_kwargs: passed to :func:`prune` (rule, measure, strategy, ...).

    Raises:
        NeuroplastError: before any work, for a bad cycle count or an integer ``amount`` whose
            ``cycles`` prunes would remove every neuron of the site.
    """
    _check_cycles(cycles)
    if not callable(retrain):
        raise TypeError("retrain must be a function (model, cycle) -> metrics or None")
    if not isinstance(retrain_last, bool):
        raise TypeError(f"retrain_last must be True or False, got {retrain_last!r}")
    check_optimizer(optimizer)
    target = resolve_site(model, site, data, prune_kwargs.get("forward"))
    amount = prune_kwargs.get("amount")
    if isinstance(amount, numbers.Integral) and not isinstance(amount, bool) \
            and amount * cycles >= target.width:
        raise NeuroplastError(
            f"{cycles} cycles of amount {amount} would remove {amount * cycles} of the "
            f"{target.width} neurons of site {target.name!r}; lower the amount or the cycles"
        )
    results: list[PruneResult] = []
    for cycle in range(1, cycles + 1):
        result = prune(model, target, data, optimizer=optimizer, **prune_kwargs)
        metrics = None
        if cycle < cycles or retrain_last:
            metrics = retrain(model, cycle)
        try:
            stored = _retrain_metrics(metrics)
        except TypeError as error:
            error.results = [*results, result]  # type: ignore[attr-defined]
            raise
        results.append(replace(result, retrain=stored))
    return results


def _retrain_metrics(metrics: Any) -> dict[str, Any] | None:
    """What a ``retrain`` function returned, as the result's ``retrain`` record."""
    if metrics is None:
        return None
    if isinstance(metrics, Mapping):
        return dict(metrics)
    if isinstance(metrics, numbers.Real) and not isinstance(metrics, bool):
        return {"value": float(metrics)}
    if torch.is_tensor(metrics) and metrics.numel() == 1:
        return {"value": float(metrics.item())}
    raise TypeError(f"retrain returned a {type(metrics).__name__}; return a dict of metrics, a "
                    "number or None (the prunes so far are in this error's .results)")
