"""Training recipe of the MNIST CNNs (VGG-style and small ResNet).

Adam, batch 128, a cosine learning-rate decay to zero over ``epochs`` passes of the 50,000
training images (no augmentation, no weight decay), one CPU thread by default. The seed fixes
the initialisation (drawn inside a forked RNG, the caller's global RNG is untouched) and the
order of the batches (a ``torch.Generator``), so a run is reproducible given the seed, the
thread count and the torch build. After training: loss and accuracy on the validation split
(model selection, the metrics of sweeps), on the test set (the final number) and on the first
10,000 training images (BatchNorm in eval mode for all three).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.experiments.architectures import OnStep
from neuroplast.zoo.mnist_images import ImageSplit, MnistImages
from neuroplast.zoo.registry import build, resolved_config

N_TRAIN_METRIC = 10_000
"""Training images on which the reported training accuracy is measured."""


@dataclass(frozen=True)
class CnnRecipe:
    """Hyper-parameters of one CNN training run.

    Attributes:
        epochs: passes over the training split.
        batch_size: images per step.
        lr: Adam's peak learning rate (cosine decay to 0 over all steps).
        weight_decay: Adam's L2 weight decay (0: none).
        threads: torch CPU threads.
        eval_batch_size: images per forward during evaluation.
        log_every: steps between two points of the training-loss curve.
        max_steps: stop after this many steps (None: all epochs; for smoke tests).
        config: the factory's keyword arguments (empty: the defaults).
    """

    epochs: int = 1
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.0
    threads: int = 1
    eval_batch_size: int = 1000
    log_every: int = 50
    max_steps: int | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


QUICK = {"vgg": CnnRecipe(batch_size=32, log_every=2, max_steps=4,
                          config={"channels": (4, 4, 8, 8), "hidden": 8}),
         "resnet": CnnRecipe(batch_size=32, log_every=2, max_steps=4,
                             config={"widths": (4, 8, 8), "blocks": 1})}
"""Tiny recipes for smoke tests (``--quick``)."""


@torch.no_grad()
def evaluate(model: nn.Module, split: ImageSplit, batch_size: int = 1000) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode) on ``split``."""
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    for x, y in split.batches(batch_size):
        logits = model(x)  # (batch, 10)
        loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(1) == y).sum())
    model.train(was_training)
    return {"loss": loss / split.n, "accuracy": correct / split.n}


def train_cnn(family: str, seed: int, recipe: CnnRecipe, data: MnistImages,
              *, progress: bool = False, on_step: OnStep | None = None,
              evaluate_splits: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Train a fresh ``family`` model (``vgg`` or ``resnet``) on ``data.train``.

    ``on_step`` (see :data:`OnStep`) runs after every step; ``evaluate_splits=False`` skips
    the final train/validation/test metrics (the record's ``metrics`` is then empty).

    Returns:
        The trained model (eval mode) and its record: family, config, recipe, seed, metrics
        (train/validation/test loss and accuracy), the training-loss curve and the times.
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build(family, recipe.config)
        steps_per_epoch = math.ceil(data.train.n / recipe.batch_size)
        total = recipe.epochs * steps_per_epoch
        if recipe.max_steps is not None:
            total = min(total, recipe.max_steps)
        optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr,
                                     weight_decay=recipe.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: 0.5 * (1.0 + math.cos(math.pi * s / total)))
        order = torch.Generator().manual_seed(seed)
        curve, window, step = [], [], 0
        started, cpu_started = time.perf_counter(), time.process_time()
        model.train()
        for _ in range(recipe.epochs):
            for x, y in data.train.batches(recipe.batch_size, order):
                if step == total:
                    break
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                step += 1
                window.append(loss.item())
                if on_step is not None:
                    on_step(model, optimizer, step)
                if step % recipe.log_every == 0 or step == total:
                    curve.append({"step": step, "train_loss": sum(window) / len(window)})
                    window = []
                    if progress:
                        print(f"  {family} seed {seed} step {step}/{total} "
                              f"loss {curve[-1]['train_loss']:.4f}", flush=True)
        train_seconds = time.perf_counter() - started
        train_cpu = time.process_time() - cpu_started
        model.eval()
        started = time.perf_counter()
        metrics = {
            "train": evaluate(model, data.train.head(N_TRAIN_METRIC), recipe.eval_batch_size),
            "validation": evaluate(model, data.validation, recipe.eval_batch_size),
            "test": evaluate(model, data.test, recipe.eval_batch_size),
        } if evaluate_splits else {}
        eval_seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(previous_threads)
    n_params = sum(p.numel() for p in model.parameters())
    record = {
        "family": family,
        "config": resolved_config(family, recipe.config),
        "recipe": _jsonable(recipe.to_dict()),
        "n_parameters": n_params,
        "steps": step,
        "metrics": metrics,
        "curve": curve,
        "seconds": {"train": round(train_seconds, 2), "train_cpu": round(train_cpu, 2),
                    "evaluate": round(eval_seconds, 2)},
        "data": {"dataset": "mnist", "source": data.source, "n_train": data.train.n,
                 "n_validation": data.validation.n, "n_test": data.test.n,
                 "train_metric_images": min(N_TRAIN_METRIC, data.train.n)},
    }
    return model, record


def _jsonable(value: Any) -> Any:
    """Tuples as lists, recursively (what JSON stores)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
