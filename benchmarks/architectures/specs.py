"""The zoo's models as families of the architecture frontier (issue 13).

``python -m benchmarks.architecture_frontier --specs benchmarks.architectures.specs:SPECS
--models vgg-mnist resnet-mnist llama-bytes --seeds 0 1 2 3 4 --out-dir docs/benchmarks``

Each family reads a model trained by ``python -m benchmarks.architectures.build NAME --seed
S`` from the zoo cache (``$NEUROPLAST_CACHE`` or ``~/.cache/neuroplast/zoo``); a seed not
built yet is refused with that command. Choices, so that one seed's frontier (13 methods × 4
ratios × with/without fine-tuning) fits in minutes on 2 cores:

* CNNs (``vgg-mnist``, ``resnet-mnist``): calibration = the first 2,048 training images in
  labelled batches of 256 (training data only); metric = accuracy on the first 2,000
  validation images (the last 10,000 training images, never trained on); fine-tuning = Adam,
  learning rate 1e-4 (the zoo's cosine schedule ends near 0: a converged model), batches of
  128 training images, BatchNorm running statistics frozen (a smoke run with learning rate
  1e-3 and BatchNorm in training mode lowered an unpruned-quality model's accuracy in 5 steps).
* ``llama-bytes``: calibration = 16 labelled windows of the training bytes (next-byte
  targets); metric = perplexity per byte on the first 32 consecutive validation windows;
  fine-tuning = AdamW, learning rate 3e-4, 16 random training windows per step.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.architectures.train_cnn import CnnRecipe, train_cnn
from benchmarks.architectures.train_llama import (
    LmRecipe,
    context_of,
    evaluate_lm,
    train_llama,
    windows,
)
from neuroplast.errors import NeuroplastError
from neuroplast.experiments.architectures import ArchitectureSpec, OnStep
from neuroplast.zoo import build
from neuroplast.zoo.cache import is_cached, load_entry
from neuroplast.zoo.corpus import load_corpus
from neuroplast.zoo.mnist_images import ImageSplit, load_mnist_images

CALIBRATION_IMAGES, CALIBRATION_BATCH, VALIDATION_IMAGES = 2048, 256, 2000
CALIBRATION_WINDOWS, VALIDATION_WINDOWS, FINETUNE_WINDOWS = 16, 32, 16


def _cached(key: str, seed: int, cache_dir: Path | None) -> nn.Module:
    if not is_cached(key, seed, cache_dir):
        raise NeuroplastError(
            f"no trained {key} for seed {seed} in the zoo cache; build it first: "
            f"python -m benchmarks.architectures.build {key} --seed {seed}"
        )
    return load_entry(key, seed, cache_dir)[0]


@cache
def _mnist() -> Any:
    return load_mnist_images(os.environ.get("NEUROPLAST_DATA"))


def _cnn_train_or_load(key: str):
    def train_or_load(seed: int, cache_dir: Path | None) -> tuple[nn.Module, Any, Any]:
        data = _mnist()
        return _cached(key, seed, cache_dir), data.train, data.validation.head(VALIDATION_IMAGES)

    return train_or_load


def _image_calibration(train: ImageSplit) -> list[tuple[torch.Tensor, torch.Tensor]]:
    x, y = train.x[:CALIBRATION_IMAGES], train.y[:CALIBRATION_IMAGES]
    return list(zip(x.split(CALIBRATION_BATCH), y.split(CALIBRATION_BATCH), strict=True))


@torch.no_grad()
def _accuracy(model: nn.Module, validation: ImageSplit) -> float:
    model.eval()
    correct = sum(int((model(x).argmax(dim=1) == y).sum())
                  for x, y in zip(validation.x.split(500), validation.y.split(500), strict=True))
    return correct / validation.y.numel()


def _cnn_finetune(model: nn.Module, train: ImageSplit, steps: int) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    for module in model.modules():  # keep the BatchNorm running statistics as calibrated
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    order = torch.randperm(train.y.numel())
    for step in range(steps):
        idx = order[(step * 128) % order.numel():][:128]
        optimizer.zero_grad()
        F.cross_entropy(model(train.x[idx]), train.y[idx]).backward()
        optimizer.step()
    model.eval()


def _cnn_data() -> tuple[ImageSplit, ImageSplit]:
    data = _mnist()
    return data.train, data.validation.head(VALIDATION_IMAGES)


def _cnn_train(key: str):
    def train(seed: int, train_data: ImageSplit, steps: int, on_step: OnStep | None
              ) -> tuple[nn.Module, list[dict[str, Any]]]:
        data = replace(_mnist(), train=train_data)
        epochs = math.ceil(steps / math.ceil(train_data.n / CnnRecipe.batch_size))
        model, record = train_cnn(key, seed, CnnRecipe(epochs=epochs, max_steps=steps,
                                                       log_every=10), data,
                                  on_step=on_step, evaluate_splits=False)
        return model, record["curve"]

    return train


def _llama_data() -> tuple[torch.Tensor, torch.Tensor]:
    corpus = load_corpus()
    return corpus.train, corpus.validation


def _llama_train(seed: int, train_data: torch.Tensor, steps: int, on_step: OnStep | None
                 ) -> tuple[nn.Module, list[dict[str, Any]]]:
    corpus = load_corpus()
    if train_data is not corpus.train and not torch.equal(train_data, corpus.train):
        raise NeuroplastError("llama-bytes trains on the corpus's own training split")
    model, record = train_llama(seed, LmRecipe(steps=steps, eval_every=max(1, steps // 10),
                                               eval_windows=16),
                                corpus, on_step=on_step, final_validation=False)
    return model, record["curve"]


def _llama_train_or_load(seed: int, cache_dir: Path | None) -> tuple[nn.Module, Any, Any]:
    corpus = load_corpus()
    return _cached("llama", seed, cache_dir), corpus.train, corpus.validation


def _llama_calibration(train: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    context = 128
    starts = torch.arange(CALIBRATION_WINDOWS) * (train.numel() // CALIBRATION_WINDOWS - context)
    return [windows(train, starts, context)]


def _perplexity(model: nn.Module, validation: torch.Tensor) -> float:
    context = context_of(model)
    starts = torch.arange(VALIDATION_WINDOWS) * context
    return math.exp(evaluate_lm(model, validation, starts)["loss"])


def _llama_finetune(model: nn.Module, train: torch.Tensor, steps: int) -> None:
    context = context_of(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, train.numel() - context - 1, (FINETUNE_WINDOWS,))
        x, y = windows(train, starts, context)
        optimizer.zero_grad()
        F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
        optimizer.step()
    model.eval()




SPECS = [
    ArchitectureSpec("vgg-mnist", lambda: build("vgg"), _cnn_train_or_load("vgg"), "accuracy",
                     True, _image_calibration, _accuracy, _cnn_finetune, finetune_steps=50,
                     description="VGG-style CNN with BatchNorm on MNIST (zoo 'vgg')",
                     data=_cnn_data, train=_cnn_train("vgg"), training_steps=391),
    ArchitectureSpec("resnet-mnist", lambda: build("resnet"), _cnn_train_or_load("resnet"),
                     "accuracy", True, _image_calibration, _accuracy, _cnn_finetune,
                     finetune_steps=50,
                     description="small ResNet with basic blocks on MNIST (zoo 'resnet')",
                     data=_cnn_data, train=_cnn_train("resnet"), training_steps=391),
    ArchitectureSpec("llama-bytes", lambda: build("llama"), _llama_train_or_load, "perplexity",
                     False, _llama_calibration, _perplexity, _llama_finetune, finetune_steps=50,
                     description="LLaMA-style byte transformer on the stdlib corpus (zoo 'llama')",
                     data=_llama_data, train=_llama_train, training_steps=600),
]
"""The three zoo families (``--specs benchmarks.architectures.specs:SPECS``)."""
