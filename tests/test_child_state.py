"""benchmarks.child_state: the two ways a child's optimizer state is written, and the table's
paired differences."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import child_state


def _trained(kind: str) -> tuple[nn.Sequential, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 7), nn.Tanh(), nn.Linear(7, 3))
    optimizer = child_state.OPTIMIZERS[kind](model.parameters())
    x, y = torch.randn(20, 6), torch.randint(0, 3, (20,))
    for _ in range(3):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model, optimizer


@pytest.mark.parametrize("kind", list(child_state.OPTIMIZERS))
@pytest.mark.parametrize("arm", ["zeros", "parent"])
def test_children_state_is_zero_or_the_parents(kind, arm):
    model, optimizer = _trained(kind)
    rows, columns = model[0].weight, model[2].weight  # (7, 6) and (3, 7)
    for param in (rows, columns):
        for value in optimizer.state[param].values():
            if value.dim():
                value.copy_(torch.arange(value.numel(), dtype=value.dtype).view_as(value))
    child_state._set_children_state(optimizer, model, torch.tensor([5, 6]),
                                    torch.tensor([1, 3]), arm)
    for key, value in optimizer.state[rows].items():
        if not value.dim():
            continue
        expected = [[0.0] * 6] * 2 if arm == "zeros" else [[6.0, 7, 8, 9, 10, 11],
                                                           [18.0, 19, 20, 21, 22, 23]]
        assert value[5:].tolist() == expected
        assert value[4].tolist() == [24.0, 25, 26, 27, 28, 29]  # the others keep theirs
        # the consumer's columns 5 and 6 take columns 1 and 3: entries 7·i + 1 and 7·i + 3
        column = optimizer.state[columns][key]
        expected = [[0.0, 0.0]] * 3 if arm == "zeros" else [[1.0, 3.0], [8.0, 10.0],
                                                            [15.0, 17.0]]
        assert column[:, 5:].tolist() == expected
        assert column[:, 4].tolist() == [4.0, 11.0, 18.0]


def test_table_gives_paired_differences_from_the_arm_without_replication():
    steps = len(child_state.READ_AFTER)

    def readings(loss: float, accuracy: float) -> list[dict[str, float]]:
        return [{"steps": k, "train_loss": loss, "test_accuracy": accuracy}
                for k in child_state.READ_AFTER]

    runs = {"none": [readings(0.5, 0.9), readings(0.7, 0.8)],
            "zeros": [readings(0.4, 0.92), readings(0.6, 0.82)],  # −0.1 both seeds
            "parent": [readings(0.5, 0.9), readings(0.9, 0.8)]}   # 0 and +0.2
    row_zeros, row_parent = child_state.table({"runs": {"adam/B1": runs}}).splitlines()[2:]
    assert row_zeros.count("-0.1000 ± 0.0000") == steps
    assert row_zeros.endswith("| +0.0200 ± 0.0000 |")
    assert row_parent.count("+0.1000 ± 0.1000") == steps  # mean 0.1, s.d. 0.141, s.e. 0.1


def test_one_seed_is_refused():
    with pytest.raises(SystemExit):
        child_state.main(["--data", "unused", "--seeds", "1", "--out", "unused"])
