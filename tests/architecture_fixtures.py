"""A test-only model family for the architecture frontier, registered through
``NEUROPLAST_EXTRA_ARCHITECTURES=architecture_fixtures:TINY`` (this directory on PYTHONPATH).

``tiny-cnn``: Conv(1→6) → ReLU → MaxPool → Conv(6→8) → ReLU → Flatten → Linear(→4) in float64,
trained for 40 full-batch Adam steps on 8×8 random images labelled by a fixed random teacher
CNN (the data do not depend on the seed; the model's initialisation does). Two sites: the
first conv's channels and the second conv's channels feeding the flattened Linear. Every
``train_or_load`` call appends the seed to the file named by ``$NEUROPLAST_TINY_LOG``, so a
test sees which runs were computed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from neuroplast.experiments.architectures import ArchitectureSpec

Data = tuple[torch.Tensor, torch.Tensor]


def build() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, 4)).double()


def _data() -> tuple[Data, Data]:
    generator = torch.Generator().manual_seed(1234)
    x = torch.randn(400, 1, 8, 8, generator=generator, dtype=torch.float64)
    torch.manual_seed(99)
    teacher = build()
    with torch.no_grad():
        y = teacher(x).argmax(dim=1)
    return (x[:300], y[:300]), (x[300:], y[300:])


def _steps(model: nn.Module, data: Data, steps: int, optimizer: torch.optim.Optimizer) -> None:
    model.train()
    x, y = data
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()


def train_or_load(seed: int, cache_dir: Path | None) -> tuple[nn.Module, Data, Data]:
    log = os.environ.get("NEUROPLAST_TINY_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{seed}\n")
    train, val = _data()
    torch.manual_seed(seed)
    model = build()
    _steps(model, train, 40, torch.optim.Adam(model.parameters(), lr=0.02))
    return model, train, val


def calibration(train: Data) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Two labelled batches, as a generator (the experiment must read them more than once)."""
    x, y = train
    yield x[:150], y[:150]
    yield x[150:], y[150:]


def evaluate(model: nn.Module, val: Data) -> float:
    x, y = val
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).double().mean())


def finetune(model: nn.Module, train: Data, steps: int) -> None:
    _steps(model, train, steps, torch.optim.SGD(model.parameters(), lr=0.05))


def train(seed: int, train_data: Data, steps: int, on_step: Any
          ) -> tuple[nn.Module, list[dict[str, Any]]]:
    """From scratch: full-batch Adam, ``on_step(model, optimizer, step)`` after every step."""
    torch.manual_seed(seed)
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    x, y = train_data
    curve = []
    model.train()
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        curve.append({"step": step, "train_loss": loss.item()})
        if on_step is not None:
            on_step(model, optimizer, step)
    model.eval()
    return model, curve


TINY = ArchitectureSpec(name="tiny-cnn", build=build, train_or_load=train_or_load,
                        metric="accuracy", higher_is_better=True, calibration=calibration,
                        evaluate=evaluate, finetune=finetune, finetune_steps=3,
                        description="two-conv CNN on random 8×8 images (tests)",
                        data=_data, train=train, training_steps=30)

