"""Helpers shared by the pruning experiments: verdict rules, row matching, caps, border share."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import random_mlp

from neuroplast.data import Split
from neuroplast.death import prune
from neuroplast.experiments.claims import Verdict, all_of
from neuroplast.experiments.definitions.pruning_common import (
    below,
    border_share,
    emptied,
    format_seconds,
    keep_one,
    non_increasing,
    paired,
    paper_cell,
    per_seed,
    smaller_at_equal_accuracy,
    summarize_rows,
)
from neuroplast.experiments.paper_tables import paper_table
from neuroplast.experiments.stats_summary import Summary, summarize


def _records(values_by_seed: dict[int, list[float]]) -> list[dict]:
    return [{"spec": {"seed": seed, "config": {}},
             "result": {"rows": [{"cutoff": c, "value": v}
                                 for c, v in zip((0.1, 0.2, 0.3), values, strict=True)]}}
            for seed, values in values_by_seed.items()]


def test_rows_are_matched_by_value_and_paired_by_seed():
    records = _records({0: [3.0, 2.0, 1.0], 1: [5.0, 4.0, 0.0]})
    assert per_seed(records, "rows", "value", cutoff=0.1 + 1e-17) == {0: 3.0, 1: 5.0}
    assert summarize_rows(records, "rows", "value", cutoff=0.3) == summarize([1.0, 0.0])
    assert summarize_rows(records, "rows", "value", cutoff=0.4) is None
    difference = paired({0: 3.0, 1: 5.0, 2: 9.0}, {0: 1.0, 1: 1.0})  # seed 2 has no partner
    assert (difference.mean, difference.n) == (3.0, 2)
    ratio = paired({0: 3.0}, {0: 2.0}, lambda a, b: a / b)
    assert ratio.mean == 1.5 and ratio.se is None


def test_paper_cells_are_found_by_the_numbers_of_their_row():
    table = paper_table("fig6")
    assert paper_cell(table, "remaining_neurons", accuracy_goal=0.95, row=6).text == "28.8 ± 0.5"
    assert paper_cell(table, "remaining_neurons", accuracy_goal=0.9, row=6) is None
    assert paper_cell(paper_table("fig5"), "accuracy_after_pruning", cutoff=0.075).mean == 0.9461


def test_below_reads_the_95_percent_interval():
    assert below(Summary(0.5, 0.1, 5), 1.0) is Verdict.CONFIRMED  # 0.5 + 0.196 < 1
    assert below(Summary(0.9, 0.1, 5), 1.0) is Verdict.INCONCLUSIVE
    assert below(Summary(1.3, 0.1, 5), 1.0) is Verdict.NOT_CONFIRMED
    assert below(Summary(0.1, None, 1), 1.0) is Verdict.INCONCLUSIVE
    assert below(None, 1.0) is Verdict.INCONCLUSIVE


def test_all_of_needs_every_part():
    c, n, i = Verdict.CONFIRMED, Verdict.NOT_CONFIRMED, Verdict.INCONCLUSIVE
    assert all_of([c, c]) is c
    assert all_of([c, i]) is i
    assert all_of([i, n, c]) is n
    assert all_of([]) is i


def test_non_increasing_from_paired_steps():
    falling = [Summary(-0.1, 0.01, 3), Summary(0.0, 0.0, 3)]
    assert non_increasing(falling, Summary(-0.1, 0.01, 3)) is Verdict.CONFIRMED
    rising = [Summary(-0.1, 0.01, 3), Summary(0.05, 0.01, 3)]
    assert non_increasing(rising, Summary(-0.05, 0.01, 3)) is Verdict.NOT_CONFIRMED
    flat = [Summary(0.0, 0.0, 3)]
    assert non_increasing(flat, Summary(0.0, 0.0, 3)) is Verdict.INCONCLUSIVE
    noisy = [Summary(0.01, 0.05, 3)]  # a small rise within noise: not a violation, no proof
    assert non_increasing(noisy, Summary(-0.5, 0.05, 3)) is Verdict.INCONCLUSIVE
    assert non_increasing([Summary(-0.1, None, 1)], Summary(-0.1, None, 1)) is \
        Verdict.INCONCLUSIVE


def test_smaller_at_equal_accuracy():
    def verdict(size, accuracy):
        return smaller_at_equal_accuracy(size, accuracy, size_slack=1.0,
                                         accuracy_tolerance=0.005)

    assert verdict(Summary(-8, 1, 5), Summary(0.001, 0.001, 5)) is Verdict.CONFIRMED
    # smaller but clearly less accurate: no equal-accuracy comparison
    assert verdict(Summary(-8, 1, 5), Summary(-0.05, 0.001, 5)) is Verdict.INCONCLUSIVE
    assert verdict(Summary(6, 1, 5), Summary(0.0, 0.001, 5)) is Verdict.NOT_CONFIRMED
    # larger but also more accurate: inconclusive
    assert verdict(Summary(6, 1, 5), Summary(0.05, 0.001, 5)) is Verdict.INCONCLUSIVE
    assert verdict(Summary(-8, None, 1), Summary(0.0, None, 1)) is Verdict.INCONCLUSIVE


def test_keep_one_caps_every_later_prune_at_width_minus_one():
    model = random_mlp((6, 8, 3, 2), seed=3)
    x = torch.randn(300, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    split = Split(x, torch.randint(0, 2, (300,), generator=torch.Generator().manual_seed(1)))
    huge = 1e9
    first = prune(copy.deepcopy(model), "hidden1", split, cutoff=huge, max_fraction=keep_one(8))
    assert first.width_after == 1 and emptied(first)
    mild = prune(copy.deepcopy(model), "hidden1", split, cutoff=0.0, max_fraction=keep_one(8))
    assert mild.width_after == 8 and not emptied(mild)
    with pytest.raises(ValueError, match="every neuron"):
        prune(copy.deepcopy(model), "hidden1", split, cutoff=huge)
    for later_width in range(1, 9):  # the same fraction after the site shrank
        assert int(keep_one(8) * later_width + 1e-9) == later_width - 1


def test_border_share_counts_the_removed_pixels_in_the_four_pixel_frame():
    frame = {r * 28 + c for r in range(28) for c in range(28)
             if min(r, c) < 4 or max(r, c) >= 24}
    assert len(frame) == 384
    assert border_share(sorted(set(range(784)) - frame)) == 1.0  # exactly the frame removed
    assert border_share(sorted(frame)) == 0.0  # exactly the inside removed
    corner_and_centre = set(range(784)) - {0, 14 * 28 + 14}
    assert border_share(sorted(corner_and_centre)) == 0.5
    assert border_share(list(range(784))) is None


def test_format_seconds_without_a_standard_error_keeps_three_digits():
    assert format_seconds(Summary(41.2689, None, 1)) == "41.3 (n=1)"
    assert format_seconds(Summary(0.05123, None, 1)) == "0.0512 (n=1)"
    assert format_seconds(None) == "—"


def test_timing_tables_say_when_retraining_times_are_shares_of_a_fused_retraining():
    from neuroplast.experiments.definitions.pruning_common import fused_share_note

    alone = {"result": {"rows": [{"retraining_fused_members": 1}, {}]}}
    fused = {"result": {"rows": [{"retraining_fused_members": 9}] * 9}}
    assert fused_share_note([alone, alone], "rows") == ""
    note = fused_share_note([alone, fused], "rows")
    assert "In 1 of 2 runs" in note and "up to 9 copies" in note and "share" in note
