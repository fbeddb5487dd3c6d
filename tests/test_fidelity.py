"""benchmarks.fidelity: reading paper cells and verdicts from reports, counting per level."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.fidelity import (
    Arm,
    by_level,
    main,
    median_z,
    paired_closeness,
    reproduction_misses,
    unreached,
)
from benchmarks.report_cells import Cell


def test_agreement_is_pooled_per_factor_level():
    good, bad = Cell("e", "q", 0.0, 1.0), Cell("e", "q", 5.0, 1.0)
    results = {Arm("fast", "standard", "xavier-normal"): [good, bad],
               Arm("fast", "inverted", "xavier-normal"): [good, good],
               Arm("fast", "inverted", "kaiming-normal"): [bad]}
    levels = by_level(results)
    assert levels["encoding"] == {"standard": (1, 2), "inverted": (2, 3)}
    assert levels["init"] == {"xavier-normal": (3, 4), "kaiming-normal": (0, 1)}
    assert levels["protocol"] == {"fast": (3, 5)}
    assert levels["l2"] == {"half-all": (3, 5)}
    assert "lr_schedule" not in levels  # no arm leaves the constant rate: not named
    scheduled = Arm("fast", "inverted", "kaiming-normal", lr_schedule="polynomial")
    levels = by_level(results | {scheduled: [good]})
    assert levels["lr_schedule"] == {"constant": (3, 5), "polynomial": (1, 1)}


def test_an_l2_arm_has_its_own_folder_and_the_old_arms_keep_theirs():
    from benchmarks.fidelity import DEFAULT_L2_FORM as MIRRORED
    from benchmarks.fidelity import DEFAULT_LR_SCHEDULE as MIRRORED_SCHEDULE
    from neuroplast.train.l2 import DEFAULT_L2_FORM
    from neuroplast.train.lr_schedule import DEFAULT_LR_SCHEDULE

    assert (MIRRORED, MIRRORED_SCHEDULE) == (DEFAULT_L2_FORM, DEFAULT_LR_SCHEDULE)
    assert Arm("medium", "inverted", "kaiming-normal").folder == "medium/inverted-kaiming-normal"
    arm = Arm("fast", "standard", "xavier-normal", "full-weights")
    assert arm.folder == "fast/standard-xavier-normal-l2-full-weights"
    assert not arm.is_default and not Arm("fast", "standard", "kaiming-normal").is_default
    assert Arm("fast", "standard", "kaiming-normal", "half-weights").is_default
    scheduled = Arm("paper", "inverted", "lecun-normal", "half-weights", "polynomial")
    assert scheduled.folder == "paper/inverted-lecun-normal-l2-half-weights-lr-polynomial"
    assert not Arm("fast", "standard", "kaiming-normal", "half-weights", "polynomial").is_default


def test_report_only_reuses_the_committed_reproductions(tmp_path):
    """The committed reproductions are arms: their runs are found under the same ids, and the
    report reads their paper cells without computing anything."""
    from benchmarks.fidelity import REPRODUCTION_ARM
    from neuroplast.experiments.options import OPTIONS, REPRODUCTION_DEFAULTS

    assert REPRODUCTION_ARM[2:4] == (REPRODUCTION_DEFAULTS["init"], REPRODUCTION_DEFAULTS["l2"])
    assert REPRODUCTION_ARM[4] == OPTIONS["lr_schedule"].default
    reproduction = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
    assert main(["--encodings", "standard", "--experiments", "baseline-training",
                 "goal-pruning", "--l2-forms", "half-all", "half-weights", "--out",
                 str(tmp_path), "--reuse", str(reproduction), str(reproduction / "xavier-normal"),
                 str(reproduction / "kaiming-normal"), "--report-only"]) == 0
    text = (tmp_path / "fidelity.md").read_text()
    rows = {"xavier-normal | half-all | 0/1 (0%), 10 seeds | 20/37 (54%), 10 seeds",
            "kaiming-normal | half-all | 1/1 (100%), 10 seeds | 22/37 (59%), 10 seeds",
            "kaiming-normal | half-weights | 1/1 (100%), 10 seeds | 25/37 (68%), 10 seeds"}
    # ^ the experiments asked for, with the seeds their stored runs cover
    assert all(f"| fast | standard | {row} |" in text for row in rows)
    assert "xavier-normal-l2-half-weights" not in text  # nothing stored: left out
    # the reproduction's arm misses 37 − 25 goal-pruning cells (baseline-training agrees)
    assert "The 12 cells that the reproduction's arm" in text
    # the reproduction's arm first, then in the order the levels were given
    assert "| goal-pruning | 7 (≈0.95) | inconclusive | inconclusive | confirmed |" in text
    for folder in ("standard-kaiming-normal", "standard-kaiming-normal-l2-half-weights"):
        assert len(list((tmp_path / "fast" / folder / "goal-pruning" / "runs")
                        .glob("*.json"))) == 10
    # the compute table sums the stored runs' own wall times
    walls = {name: sum(json.loads(p.read_text())["provenance"]["wall_s"]
                       for p in (reproduction / name / "runs").glob("*.json"))
             for name in ("baseline-training", "goal-pruning")}
    row = next(line for line in text.split("## Compute per arm")[1].splitlines()
               if line.startswith("| fast/standard-kaiming-normal-l2-half-weights |"))
    assert row == (f"| fast/standard-kaiming-normal-l2-half-weights | "
                   f"{walls['baseline-training']:,.0f} s (10) | {walls['goal-pruning']:,.0f} "
                   f"s (10) | {sum(walls.values()):,.0f} s (20) |")


def test_the_compute_table_adds_cpu_time_only_where_every_run_records_it():
    """A cell's cost is the sum of its runs' wall times; the CPU sum (``provenance.cpu_s``,
    recorded since 2026-12-06) is shown only when no run lacks it."""
    from benchmarks.fidelity import StoredCompute, _cost

    def run(seed: int, wall: float, cpu: float | None = None) -> dict:
        provenance = {"wall_s": wall} | ({} if cpu is None else {"cpu_s": cpu})
        return {"spec": {"seed": seed}, "provenance": provenance}

    new = StoredCompute.of([run(0, 1500.0, 600.0), run(1, 2500.0, 700.0), run(1, 10.0, 5.0)])
    assert (new.runs, new.seeds, new.wall_s, new.cpu_s, new.cpu_runs) == (3, 2, 4010.0, 1305.0, 3)
    assert _cost(new) == "4,010 s (3, 1,305 s CPU)"
    old = StoredCompute.of([run(2, 100.0)])
    assert _cost(old) == "100 s (1)"
    both = new + old
    assert (both.runs, both.seeds, both.cpu_runs) == (4, 2, 3)
    assert _cost(both) == "4,110 s (4)"  # one run without CPU time: the wall time only
    assert _cost(StoredCompute()) == "—"


def test_replication_is_studied_on_fig22_only_under_every_option(tmp_path):
    """Fig. 22 holds replication's paper cells; an arm runs it with the arm's options, and the
    committed reproduction's Fig. 22 runs are that arm's runs (same ids)."""
    from benchmarks.fidelity import arm_experiment
    from neuroplast.experiments.runner import plan

    specs = plan(arm_experiment(Arm("medium", "inverted", "lecun-normal", "half-weights"),
                                "replication"), protocol="medium", seeds=3)
    assert [s.seed for s in specs] == [0, 1, 2]
    assert all(s.config["figure"] == "fig22" and s.config["arch"] == "N1" for s in specs)
    assert all((s.config["invert"], s.config["init"], s.config["l2"])
               == (True, "lecun-normal", "half-weights") for s in specs)
    reproduction = Path(__file__).resolve().parents[1] / "docs" / "reproduction"
    assert main(["--encodings", "standard", "--inits", "kaiming-normal", "--l2-forms",
                 "half-weights", "--experiments", "replication", "--out", str(tmp_path),
                 "--reuse", str(reproduction), "--report-only"]) == 0
    copied = list((tmp_path / "fast" / "standard-kaiming-normal-l2-half-weights" / "replication"
                   / "runs").glob("*.json"))
    assert len(copied) == 10
    assert all(json.loads(p.read_text())["spec"]["config"]["figure"] == "fig22" for p in copied)
    row = "| fast | standard | kaiming-normal | half-weights | 0/10 (0%), 10 seeds | 0/10 (0%) |"
    assert row in (tmp_path / "fidelity.md").read_text()


def test_the_direction_of_misses_and_the_cells_no_arm_reaches():
    a, b = Arm("fast", "standard", "xavier-normal"), Arm("medium", "standard", "xavier-normal")
    results = {a: [Cell("e", "x", -6.0, 1.0), Cell("e", "y", 1.0, 1.0), Cell("f", "z", 0.0, 0.0)],
               b: [Cell("e", "x", -3.0, 1.0), Cell("e", "y", 9.0, 1.0)]}
    assert median_z(results) == {a: {"e": -2.5, "f": 0.0}, b: {"e": 3.0}}
    ((cell, arm),) = unreached(results)  # y is reached by a, z agrees exactly (0 ± 0)
    assert (cell.quantity, cell.difference, arm) == ("x", -3.0, b)
    assert Cell("e", "w", 1.0, 0.0).z == float("inf") and not Cell("e", "w", 1.0, 0.0).agrees


def test_arms_that_differ_in_one_factor_are_compared_cell_by_cell():
    x, k = Arm("fast", "standard", "xavier-normal"), Arm("fast", "standard", "kaiming-normal")
    inverted_k = Arm("fast", "inverted", "kaiming-normal")
    cells = [Cell("e", str(i), 0.0, 1.0) for i in range(10)]
    results = {x: [Cell("e", str(i), 3.0, 1.0) for i in range(10)],  # 3 s.e. off everywhere
               k: cells[:8] + [Cell("e", "8", 5.0, 1.0), Cell("e", "9", 3.0, 1.0)],
               inverted_k: cells[:3]}
    pairings = {(p.first, p.second): p for p in paired_closeness(results)}
    assert (x, inverted_k) not in pairings  # two factors differ
    first = pairings[(x, k)]
    assert (first.factor, first.cells, first.first_closer, first.second_closer) == (
        "init", 10, 1, 8)  # cell 9 ties
    assert first.p_value == pytest.approx(2 * (9 + 1) / 2**9)  # P[X ≥ 8], X ~ Bin(9, ½), × 2
    assert (first.first_nearer, first.second_nearer) == (1, 8)  # same s.e.: same split
    assert pairings[(k, inverted_k)].factor == "encoding"
    assert pairings[(k, inverted_k)].cells == 3


def test_a_wider_standard_error_makes_an_arm_closer_in_z_but_not_nearer_in_value():
    ten = Arm("fast", "standard", "kaiming-normal")
    four = Arm("paper", "standard", "kaiming-normal")
    results = {ten: [Cell("e", str(i), 3.0, 1.0) for i in range(6)],
               four: [Cell("e", str(i), 4.0, 2.5) for i in range(6)]}  # farther, wider
    (pairing,) = paired_closeness(results)
    assert (pairing.first_closer, pairing.second_closer) == (0, 6)
    assert (pairing.first_nearer, pairing.second_nearer) == (6, 0)
    assert pairing.p_nearer == pytest.approx(2 / 2**6)


def test_each_miss_of_the_reproduction_names_the_fewest_factors_that_reach_it():
    from benchmarks.fidelity import REPRODUCTION_ARM

    reference = Arm(*REPRODUCTION_ARM)
    medium = Arm("medium", *REPRODUCTION_ARM[1:])
    inverted_lecun = Arm(REPRODUCTION_ARM[0], "inverted", "lecun-normal", REPRODUCTION_ARM[3])
    results = {
        medium: [Cell("e", "x", 1.9, 1.0), Cell("e", "y", 5.0, 1.0), Cell("e", "w", 9.0, 1.0),
                 Cell("e", "v", -2.9, 1.0)],
        reference: [Cell("e", "x", 3.0, 1.0), Cell("e", "y", 4.0, 1.0), Cell("e", "z", 3.0, 1.0),
                    Cell("e", "w", 0.5, 1.0), Cell("e", "v", 6.0, 1.0)],
        inverted_lecun: [Cell("e", "x", 0.0, 1.0), Cell("e", "y", 1.0, 1.0),
                         Cell("e", "z", 2.5, 1.0), Cell("e", "v", 2.5, 1.0)],
    }
    misses = {m.cell.quantity: m for m in reproduction_misses(results)}
    assert set(misses) == {"x", "y", "z", "v"}  # w agrees in the reproduction: no miss
    # v: no arm reaches it; both halve its gap, and one factor beats two although farther
    assert (misses["v"].reaching, misses["v"].halving, misses["v"].halving_changed,
            misses["v"].halved.difference) == (None, medium, ("protocol",), -2.9)
    assert (misses["z"].halving, misses["z"].halved) == (None, None)  # 3 → 2.5: not half
    assert misses["x"].halving is None  # reached: the halving arm is only for the unreached
    # x: one factor beats two, although the two-factor arm comes closer
    assert (misses["x"].reaching, misses["x"].changed, misses["x"].reached.difference) == (
        medium, ("protocol",), 1.9)
    assert (misses["y"].reaching, misses["y"].changed) == (inverted_lecun, ("encoding", "init"))
    assert (misses["z"].reaching, misses["z"].reached, misses["z"].changed) == (None, None, ())
    # 3 → 1.9 is not half the gap; 4 → 1 is; an unreached cell never is
    assert [misses[q].gap_halved for q in "xyzv"] == [False, True, False, False]
    assert reproduction_misses({medium: results[medium]}) == []  # no reproduction arm


@pytest.mark.parametrize(("arguments", "message"), [
    (["--inits", "kaiming-normal", "kaiming-normal"],
     "--inits names a level twice: ['kaiming-normal', 'kaiming-normal']"),
    (["--l2-forms", "half-all", "half-weights", "half-all"], "--l2-forms names a level twice"),
    (["--seeds", "0"], "--seeds: expected a positive integer, got 0"),
    (["--reuse", "no/such/folder"], "--reuse no/such/folder: no folder of stored runs"),
])
def test_arguments_that_would_miscount_or_copy_nothing_are_refused(arguments, message,
                                                                     tmp_path, capsys):
    """An arm named twice counted its cells twice; a --reuse folder without runs copied
    nothing and let the study recompute everything."""
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "out"), "--report-only", *arguments])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
