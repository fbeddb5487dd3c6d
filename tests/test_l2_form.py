"""benchmarks.l2_form: each form's accuracies are the members trained fused under that form, on
one shared data order; a form named twice is refused before any training."""

from __future__ import annotations

import json

import pytest

from benchmarks.l2_form import main, markdown


def test_the_table_pairs_each_form_with_the_reference_by_seed():
    levels = [{"l2": "half-weights", "decay_biases": False, "weight_decay": 0.001, "cpu_s": 3.0,
               "train_accuracy": [0.90, 0.92], "test_accuracy": [0.80, 0.82]},
              {"l2": "half-all", "decay_biases": True, "weight_decay": 0.001, "cpu_s": 3.0,
               "train_accuracy": [0.89, 0.89], "test_accuracy": [0.80, 0.84]}]
    text = markdown(levels, "# t", [])
    # paired training differences −0.01 and −0.03: mean −0.02, s.e. 0.01
    assert "| `half-all` | yes | 0.001 | 0.89000 ± 0.00000 | -0.02000 ± 0.01000 |" in text
    assert "| L2 form | decays biases | weight decay | training accuracy | − `half-weights`" in text


def test_a_form_named_twice_is_refused_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--l2", "half-all", "--against", "half-all"])
    assert "name a form twice" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_each_form_is_the_members_trained_under_it_on_the_data_seed(tmp_path, data_dir):
    """The command end to end (quick protocol, 2 members): each form's training accuracies are
    those of the members trained fused under that form by hand, on the restricted split with
    the given data seed; ``full-weights`` (twice the decay) differs from the reference, and
    ``half-all`` is recorded as decaying the biases."""
    from neuroplast.data import load_mnist
    from neuroplast.models import build_mlp, initialize
    from neuroplast.train import evaluate, get_protocol, restrict
    from neuroplast.train.fused import train_fused
    from neuroplast.train.l2 import with_l2_form

    main(["--protocol", "quick", "--seeds", "2", "--paper-epochs", "500", "--data-seed", "3",
          "--against", "full-weights", "half-all", "--out", str(tmp_path), "--data", data_dir])
    folder = tmp_path / "quick-init-kaiming-normal-l2-half-weights"
    record = json.loads((folder / "l2-form.json").read_text())
    levels = record["levels"]
    assert [lv["l2"] for lv in levels] == ["half-weights", "full-weights", "half-all"]
    assert [lv["decay_biases"] for lv in levels] == [False, False, True]
    data = load_mnist(data_dir, download=False)
    for stored in levels[:2]:
        protocol = with_l2_form(get_protocol("quick"), stored["l2"])
        members = [initialize(build_mlp("N1"), seed, "kaiming-normal") for seed in range(2)]
        train_fused(members, restrict(data.train, protocol), protocol,
                    epochs=protocol.epochs(500), data_seed=3, progress=False)
        assert stored["train_accuracy"] == [
            evaluate(m, restrict(data.train, protocol)).accuracy for m in members]
    assert levels[0]["train_accuracy"] != levels[1]["train_accuracy"]
    assert "Made by `python -m benchmarks.l2_form --protocol quick" in (
        folder / "l2-form.md").read_text()
