"""benchmarks.vs_n2ps_a1: vs-n2ps with A1 variants beside Fig. 15's A1 rows."""

from __future__ import annotations

import json
from dataclasses import replace

from benchmarks.vs_n2ps_a1 import VARIANTS, InvertedWithVariants, main, variant_methods
from neuroplast.experiments import EXPERIMENTS
from neuroplast.experiments.definitions.vs_n2ps import METHODS
from neuroplast.experiments.runner import plan


def test_variants_run_on_the_inverted_encoding_after_the_stock_rows():
    experiment = EXPERIMENTS["vs-n2ps"]
    specs = plan(experiment, protocol="fast", seeds=2)
    variants = plan(replace(experiment, configs=InvertedWithVariants(experiment.configs)),
                    protocol="fast", seeds=2)
    assert [s.config["invert"] for s in variants] == [True, True]
    methods = variants[0].config["methods"]
    assert methods[:len(METHODS)] == [dict(m) for m in METHODS]
    ids = [m["id"] for m in methods]
    assert len(set(ids)) == len(ids) == len(METHODS) + 2 * len(VARIANTS)
    assert {m["paper_row"] for m in variant_methods()} == {3, 4}  # Fig. 15's A1 rows
    assert not {s.run_id for s in variants} & {s.run_id for s in specs}


def test_quick_run_keeps_the_stock_choice_and_writes_the_table(tmp_path, data_dir):
    assert main(["--protocol", "quick", "--seeds", "2", "--out", str(tmp_path),
                 "--data", data_dir]) == 0
    (folder,) = tmp_path.iterdir()
    records = [json.loads(p.read_text()) for p in (folder / "vs-n2ps" / "runs").glob("*.json")]
    assert len(records) == 2
    for record in records:
        methods = record["result"]["methods"]
        for percent in (1, 10):
            stock = methods[f"a1-{percent}%"]
            for name, keys in VARIANTS:
                variant = methods[f"a1-{percent}%/{name}"]
                assert variant["kept_inputs"] == stock["kept_inputs"]  # inputs chosen alike
                if "rules" in keys:  # only the removal differs
                    assert variant["hidden_neurons"] == stock["hidden_neurons"]
    table = (folder / "a1-variants.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "%" in line]
    assert len(rows) == 2 * (1 + len(VARIANTS))
    assert "0.756 ± 0.008" in table and "0.682 ± 0.014" in table  # the paper's A1 accuracies
