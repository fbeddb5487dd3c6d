"""Pieces shared by the pruning experiments of §5.2–5.4 (cutoff, goal, input, untrained).

Runs: training the base N4, pruning without ever emptying a site, and rows of results that
reports can match by value. Reports: mean ± s.e. of one field of matching rows over seeds,
the paper's cell for a row, tables of ours beside the paper, paired per-seed differences, the
verdict rules the claims use, the share of removed pixels on the MNIST border, and grids of
pixel-removal maps.

Every verdict rule here reads a summary's 95 % interval ``mean ± 1.96 · se``; a summary over
one seed (``se`` None) gives *inconclusive*.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from neuroplast.data import Dataset, Split, data_fingerprint
from neuroplast.death import PruneResult, prune_cycles_together
from neuroplast.death.strategies import RetrainCheckpoints
from neuroplast.experiments.claims import Verdict, Z
from neuroplast.experiments.definitions.pixel_regions import region_masks
from neuroplast.experiments.paper_tables import PaperTable, PaperValue
from neuroplast.experiments.report import new_figure
from neuroplast.experiments.stage_checkpoints import stage_checkpoint
from neuroplast.experiments.stats_summary import (
    Summary,
    format_mean_se,
    markdown_table,
    paper_vs_ours_row,
    summarize,
)
from neuroplast.experiments.trained_cache import cached_training, training_key
from neuroplast.models import DEFAULT_INIT, MLP, build_mlp, initialize
from neuroplast.plots.pixel_map import (
    removal_colormap,
    removal_frequency,
)
from neuroplast.train import Checkpoint, Protocol, train

TIMING_NOTE = "different hardware: the paper's Mathematica on a Ryzen 7 5000, ours in the header"


# -- runs ----------------------------------------------------------------------------------


def train_base(arch: str, paper_epochs: float, seed: int, protocol: Protocol,
               dataset: Dataset, init: str = DEFAULT_INIT) -> tuple[MLP, dict[str, Any]]:
    """A freshly initialised net (initialisation ``init``) trained ``paper_epochs`` (the
    protocol rescales them) — or, with ``$NEUROPLAST_TRAINED_CACHE`` set, the same net loaded
    from an earlier identical training (:mod:`neuroplast.experiments.trained_cache`).

    Returns:
        The model and ``History.final`` (training-split metrics on the data the protocol
        trains on, test metrics, ``wall_time_s``).
    """
    model = initialize(build_mlp(arch), seed, init)

    def fit(checkpoint: Checkpoint | None) -> dict[str, Any]:
        history = train(model, dataset.train, protocol, epochs=protocol.epochs(paper_epochs),
                        seed=seed, test_split=dataset.test, progress=False,
                        checkpoint=checkpoint)
        return dict(history.final)

    final = cached_training(lambda: training_key(arch, paper_epochs, seed, init, protocol,
                                                 data_fingerprint(dataset)), model, fit,
                            uncached=stage_checkpoint(f"base-{arch}-{paper_epochs:g}-{seed}"))
    return model, final


def keep_one(width: int) -> float:
    """``max_fraction`` that lets a prune remove at most ``width − 1`` of ``width`` neurons.

    floor(((w − ½)/w) · w') = w' − 1 for every later width w' ≤ w, so the same value also
    caps the prunes of :func:`neuroplast.death.prune_cycles` after the site has shrunk.
    """
    return (width - 0.5) / width


def retrain_checkpoints(stage: str) -> RetrainCheckpoints:
    """cycle → the current run's checkpoint of the retraining after that cycle's prune, named
    ``<stage>-retrain-<cycle>`` (:func:`neuroplast.experiments.stage_checkpoints
    .stage_checkpoint`; None outside a sweep)."""
    return lambda cycle: stage_checkpoint(f"{stage}-retrain-{cycle}")


def cutoff_cycles(model: MLP, site: str, cutoff: float, config: dict[str, Any], seed: int,
                  protocol: Protocol, split: Split, test: Split, *, stage: str,
                  cycles: int = 2, retrain_last: bool = False) -> list[PruneResult]:
    """Prune ``site`` with the efficiency cutoff ε, retrain, prune again, … without emptying it.

    The default ``cycles=2`` is Fig. 5's prune, retrain, prune; ``cycles=1, retrain_last=True``
    is Fig. 7's prune, retrain. ``config`` gives ``rule`` and ``retrain_paper_epochs``; every
    prune keeps at least one neuron (:func:`keep_one`). ``stage`` names the retrainings'
    checkpoints (unique within a run; :func:`retrain_checkpoints`).
    """
    (chain,) = cutoff_chains([model], site, [cutoff], config, seed, protocol, split, test,
                             stage=stage, cycles=cycles, retrain_last=retrain_last)
    return chain


def cutoff_chains(models: Sequence[MLP], site: str, cutoffs: Sequence[float],
                  config: dict[str, Any], seed: int, protocol: Protocol, split: Split,
                  test: Split, *, stage: str, cycles: int = 2,
                  retrain_last: bool = False) -> list[list[PruneResult]]:
    """:func:`cutoff_cycles` for ``models[i]`` with ``cutoffs[i]``, all in lock-step: the
    retrainings of a cycle share their seed and are trained as one fused model
    (:func:`neuroplast.death.prune_cycles_together`; each retraining's ``wall_time_s`` is its
    share of the fused time). Each cycle's retraining checkpoints as ``<stage>-retrain-<cycle>``
    in a sweep (:func:`retrain_checkpoints`)."""
    settings = [{"rule": config["rule"], "cutoff": cutoff,
                 "max_fraction": keep_one(model.site(site).width)}
                for model, cutoff in zip(models, cutoffs, strict=True)]
    return prune_cycles_together(models, site, split, protocol, cycles=cycles,
                                 retrain_paper_epochs=config["retrain_paper_epochs"],
                                 retrain_last=retrain_last, seed=seed, test_split=test,
                                 prune_kwargs=settings, checkpoints=retrain_checkpoints(stage))


def fused_share_note(records: Iterable[dict[str, Any]], rows_key: str) -> str:
    """A paragraph (ending in a blank line) to put above a timing table whose retraining
    times are shares of fused retrainings (rows with ``retraining_fused_members`` > 1), or ""
    when every retraining ran alone."""
    records = list(records)
    fused = [max((row.get("retraining_fused_members", 1) for row in r["result"][rows_key]),
                 default=1) for r in records]
    if max(fused, default=1) <= 1:
        return ""
    return (f"In {sum(f > 1 for f in fused)} of {len(records)} runs the copies were retrained "
            f"together as one fused model (up to {max(fused)} copies, docs/decisions.md item "
            "23): a retraining time there is the copy's share of the fused time, equal for "
            "every copy of the run, so it shows no difference between copies.\n\n")


def emptied(result: PruneResult) -> bool:
    """Whether a cutoff strategy wanted every neuron gone (and :func:`keep_one` kept one)."""
    return result.threshold is not None and bool(result.efficiencies) and all(
        e < result.threshold for e in result.efficiencies)


def kept_pixels(model: MLP) -> list[int]:
    """The input pixels the model still reads (``model.selector.kept``), as a list."""
    return [int(k) for k in model.selector.kept.tolist()]


# -- rows over seeds -----------------------------------------------------------------------


def close(a: Any, b: Any) -> bool:
    """Equal values, numbers compared with a relative tolerance (config floats vs JSON)."""
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def select(records: Iterable[dict[str, Any]], **config: Any) -> list[dict[str, Any]]:
    """The records whose configuration has the given values."""
    return [r for r in records
            if all(close(r["spec"]["config"].get(k), v) for k, v in config.items())]


def find_row(rows: Iterable[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    """The first row whose fields have the given values, or None."""
    return next((row for row in rows if all(close(row.get(k), v) for k, v in match.items())),
                None)


def per_seed(records: Iterable[dict[str, Any]], rows_key: str, field: str,
             **match: Any) -> dict[int, float]:
    """seed → ``field`` of the row of ``result[rows_key]`` matching ``match`` (where present)."""
    out = {}
    for record in records:
        row = find_row(record["result"][rows_key], **match)
        if row is not None and row.get(field) is not None:
            out[record["spec"]["seed"]] = float(row[field])
    return out


def summarize_rows(records: Iterable[dict[str, Any]], rows_key: str, field: str,
                   **match: Any) -> Summary | None:
    """Mean ± s.e. over seeds of ``field`` in the matching rows (None when no run has one)."""
    values = per_seed(records, rows_key, field, **match)
    return summarize(values.values()) if values else None


def paired(a: dict[int, float], b: dict[int, float],
           combine: Callable[[float, float], float] = lambda x, y: x - y) -> Summary | None:
    """Summary over the seeds present in both of ``combine(a[s], b[s])`` (default a − b)."""
    seeds = sorted(a.keys() & b.keys())
    return summarize(combine(a[s], b[s]) for s in seeds) if seeds else None


def unique_values(records: Iterable[dict[str, Any]], rows_key: str, field: str) -> list[Any]:
    """The distinct values of ``field`` over all rows, in first-seen order."""
    seen: list[Any] = []
    for record in records:
        for row in record["result"][rows_key]:
            if not any(close(row[field], s) for s in seen):
                seen.append(row[field])
    return seen


# -- the paper's cells and tables ----------------------------------------------------------


def paper_cell(table: PaperTable, column: str, **match: float) -> PaperValue | None:
    """The paper's value in ``column`` of the row whose cells equal the numbers ``match``."""
    for row in table.rows:
        if all(row[k].mean is not None and close(row[k].mean, v) for k, v in match.items()):
            return row.get(column)
    return None


def number(value: float) -> str:
    """A configuration number as the paper prints it (``0.075``, ``0.0001``, ``5``)."""
    return f"{value:g}"


def ours_vs_paper_table(records: Sequence[dict[str, Any]], rows_key: str, key_field: str,
                        key_title: str, field: str, table: PaperTable | None,
                        paper_column: str | None, *, paper_key: str | None = None,
                        paper_match: Mapping[str, float] | None = None,
                        digits: int | None = None, **match: Any) -> str:
    """One quantity per key value (e.g. per cutoff): ours, the paper's, ours − paper.

    Rows of ``result[rows_key]`` (restricted to those matching ``match``) are grouped by
    ``key_field``; the paper's cell is the row of ``table`` whose ``paper_key`` column
    (default ``key_field``) prints the same number, and whose ``paper_match`` columns too.
    """
    rows = []
    for key in unique_values(records, rows_key, key_field):
        ours = summarize_rows(records, rows_key, field, **{key_field: key}, **match)
        if ours is None:
            continue
        paper = None
        if table is not None and paper_column is not None:
            paper = paper_cell(table, paper_column, **{paper_key or key_field: key},
                               **(paper_match or {}))
        rows.append(paper_vs_ours_row(number(key), ours, paper, digits))
    return markdown_table((key_title, "ours (mean ± s.e.)", "paper", "ours − paper"), rows)


def timing_row(label: str, ours: Summary | None, paper: PaperValue | None) -> list[str]:
    """A timing beside the paper's: no difference column, the hardware differs."""
    return [label, format_seconds(ours), "—" if paper is None else paper.text,
            "not comparable (hardware)"]


def format_seconds(ours: Summary | None) -> str:
    """A duration: two significant digits of the s.e., or 3 significant digits with one seed."""
    if ours is None:
        return "—"
    if ours.se is not None:
        return ours.format()
    magnitude = math.floor(math.log10(abs(ours.mean))) if ours.mean else 0
    return ours.format(max(0, 2 - magnitude))


def format_summary(summary: Summary | None, digits: int | None = None) -> str:
    """``mean ± se`` or ``—`` for a missing summary."""
    return "—" if summary is None else format_mean_se(summary.mean, summary.se, digits,
                                                      n=summary.n)


# -- verdict rules -------------------------------------------------------------------------


def interval(summary: Summary) -> tuple[float, float] | None:
    """The 95 % interval of a summary, or None with one seed."""
    if summary.se is None or not math.isfinite(summary.se):
        return None
    return summary.mean - Z * summary.se, summary.mean + Z * summary.se


def below(summary: Summary | None, bound: float) -> Verdict:
    """Confirmed when the whole interval is < ``bound``, not confirmed when it is ≥ it."""
    span = None if summary is None else interval(summary)
    if span is None:
        return Verdict.INCONCLUSIVE
    if span[1] < bound:
        return Verdict.CONFIRMED
    if span[0] >= bound:
        return Verdict.NOT_CONFIRMED
    return Verdict.INCONCLUSIVE


def non_increasing(steps: Sequence[Summary | None], total: Summary | None) -> Verdict:
    """A series falls monotonically, from its paired per-seed steps (next − previous).

    Confirmed: every step's mean is ≤ 0 and the whole fall (last − first) is significantly
    < 0. Not confirmed: some step rises significantly (its interval lies above 0).
    Inconclusive otherwise, or with one seed.
    """
    spans = [None if s is None else interval(s) for s in steps]
    if any(span is not None and span[0] > 0 for span in spans):
        return Verdict.NOT_CONFIRMED
    if total is None or interval(total) is None or any(span is None for span in spans):
        return Verdict.INCONCLUSIVE
    if all(s.mean <= 0 for s in steps if s is not None) and interval(total)[1] < 0:
        return Verdict.CONFIRMED
    return Verdict.INCONCLUSIVE


def smaller_at_equal_accuracy(size_difference: Summary | None,
                              accuracy_difference: Summary | None, *, size_slack: float,
                              accuracy_tolerance: float) -> Verdict:
    """Claim "A gives a smaller or equal net than B at equal accuracy", from paired A − B.

    Confirmed: A is not larger (interval of size A − B below ``size_slack``) and not less
    accurate (interval of accuracy A − B above −``accuracy_tolerance``). Not confirmed: A is
    larger (interval above 0) and not more accurate (interval below +``accuracy_tolerance``).
    Inconclusive otherwise — e.g. A smaller but also less accurate: no equal-accuracy pair.
    """
    if size_difference is None or accuracy_difference is None:
        return Verdict.INCONCLUSIVE
    size, accuracy = interval(size_difference), interval(accuracy_difference)
    if size is None or accuracy is None:
        return Verdict.INCONCLUSIVE
    if size[1] <= size_slack and accuracy[0] >= -accuracy_tolerance:
        return Verdict.CONFIRMED
    if size[0] > 0 and accuracy[1] <= accuracy_tolerance:
        return Verdict.NOT_CONFIRMED
    return Verdict.INCONCLUSIVE


# -- pixels --------------------------------------------------------------------------------


def border_share(kept: Sequence[int], n_features: int = 784) -> float | None:
    """Of the pixels removed, the fraction in the 4-pixel border frame (None: none removed).

    The frame is :func:`pixel_regions.region_masks`'s border (384 of 784 pixels), so by chance
    (pixels removed uniformly) the share would be 384 / 784 ≈ 0.49.
    """
    removed = removal_frequency([torch.as_tensor(kept, dtype=torch.long)], n_features) > 0
    count = int(removed.sum())
    border, _ = region_masks()
    return None if count == 0 else int((removed & border).sum()) / count


def pixel_grid(panels: Sequence[tuple[str, Sequence[Sequence[int]]]], columns: int,
               title: str) -> Any | None:
    """A figure of removal-frequency maps, one per panel (title, kept pixels of each run).

    Black = never removed, blue = removed in every run (the paper's Figs 8, 11, 13). A panel
    may instead hold a ready (28, 28) frequency image as a tensor.
    """
    figure = new_figure(max(4.0, 1.9 * columns + 0.8),
                        2.1 * math.ceil(len(panels) / columns) + 0.6)
    if figure is None or not panels:
        return figure
    colours = removal_colormap()
    rows = math.ceil(len(panels) / columns)
    axes = figure.subplots(rows, columns, squeeze=False)
    shown = None
    for ax, (label, content) in zip(axes.flat, panels, strict=False):
        image = content if isinstance(content, torch.Tensor) else removal_frequency(
            [torch.as_tensor(k, dtype=torch.long) for k in content])
        shown = ax.imshow(image.numpy(), cmap=colours, vmin=0.0, vmax=1.0,
                          interpolation="nearest")
        ax.set_title(label, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    figure.colorbar(shown, ax=axes, fraction=0.03, pad=0.02, label="fraction of runs removed")
    figure.suptitle(title, fontsize=9)
    return figure
