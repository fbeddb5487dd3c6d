"""Training recipe of the byte-level LLaMA-style transformer on the standard-library corpus.

AdamW (β = 0.9, 0.95; weight decay on matrices and the embedding, none on RMSNorm gains),
linear warm-up then cosine decay to ``min_lr_ratio`` · lr, gradient clipping at norm 1, batches
of ``batch_size`` random windows of ``context + 1`` bytes of the training split, one CPU
thread by default. The seed fixes the initialisation (inside a forked RNG) and the windows (a
``torch.Generator``): a run is reproducible given the seed, the thread count and the torch
build.

Validation loss is the mean next-byte cross-entropy over the validation split cut into
consecutive windows of ``context + 1`` bytes (stride ``context``: every byte but the first of
each window is predicted once, from 0 to context − 1 bytes of context), reported in nats, in
bits per byte (nats / ln 2) and as perplexity per byte (e^nats). During training the curve
records the mean training loss since the last point and the loss on ``eval_windows`` windows
evenly spaced over the validation split.
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
from neuroplast.zoo.corpus import Corpus
from neuroplast.zoo.registry import build


@dataclass(frozen=True)
class LmRecipe:
    """Hyper-parameters of one language-model training run.

    Attributes:
        steps: optimizer steps.
        batch_size: windows per step.
        lr: peak learning rate.
        min_lr_ratio: final learning rate as a share of ``lr``.
        warmup: steps of linear warm-up.
        weight_decay: AdamW's decoupled weight decay on matrices.
        beta2: AdamW's β₂ (β₁ = 0.9).
        grad_clip: maximal gradient norm.
        threads: torch CPU threads.
        eval_every: steps between two points of the curve.
        eval_windows: validation windows in each point of the curve.
        eval_batch_size: windows per forward during evaluation.
        config: :class:`~neuroplast.zoo.transformer.LlamaConfig` fields (empty: defaults);
            the windows are ``config["context"]`` bytes long.
    """

    steps: int = 2000
    batch_size: int = 16
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 100
    weight_decay: float = 0.1
    beta2: float = 0.95
    grad_clip: float = 1.0
    threads: int = 1
    eval_every: int = 250
    eval_windows: int = 64
    eval_batch_size: int = 64
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


QUICK = LmRecipe(steps=4, batch_size=4, warmup=2, eval_every=2, eval_windows=4,
                 config={"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 24, "context": 16})
"""A tiny recipe for smoke tests (``--quick``)."""


def context_of(model: nn.Module) -> int:
    """The window length of a :class:`~neuroplast.zoo.transformer.TinyLlama`."""
    return int(model.config.context)


def windows(tokens: torch.Tensor, starts: torch.Tensor, context: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-byte targets, each (len(starts), context) int64, of the windows of
    ``context + 1`` bytes starting at ``starts``."""
    idx = starts[:, None] + torch.arange(context + 1)  # (n, context + 1)
    chunk = tokens[idx].long()
    return chunk[:, :-1], chunk[:, 1:]


def validation_starts(n_tokens: int, context: int) -> torch.Tensor:
    """Starts of the consecutive validation windows (stride ``context``)."""
    return torch.arange(0, n_tokens - context, context)


@torch.no_grad()
def evaluate_lm(model: nn.Module, tokens: torch.Tensor, starts: torch.Tensor | None = None,
                batch_size: int = 64) -> dict[str, float]:
    """Mean next-byte cross-entropy of ``model`` on windows of ``tokens``.

    Args:
        model: a byte-level causal language model ((batch, T) → (batch, T, 256)).
        tokens: (n,) uint8 byte stream.
        starts: window starts (default: every window, :func:`validation_starts`).
        batch_size: windows per forward.

    Returns:
        ``loss`` (nats per byte), ``bits_per_byte``, ``perplexity`` (per byte), ``bytes``.
    """
    context = context_of(model)
    starts = validation_starts(tokens.numel(), context) if starts is None else starts
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, starts.numel(), batch_size):
        x, y = windows(tokens, starts[i:i + batch_size], context)
        logits = model(x)  # (batch, context, 256)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    loss = total / count
    return {"loss": loss, "bits_per_byte": loss / math.log(2), "perplexity": math.exp(loss),
            "bytes": count}


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def train_llama(seed: int, recipe: LmRecipe, corpus: Corpus, *, progress: bool = False,
                on_step: OnStep | None = None, final_validation: bool = True,
                ) -> tuple[nn.Module, dict[str, Any]]:
    """Train a fresh :class:`~neuroplast.zoo.transformer.TinyLlama` on ``corpus.train``.

    ``on_step`` (see :data:`OnStep`) runs after every step; ``final_validation=False`` skips
    the loss over the whole validation split (the record's ``validation`` is then None).

    Returns:
        The trained model (eval mode) and its record: family, config, recipe, seed, the full
        validation loss, the curve, the times and the corpus summary (with its fingerprint).
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build("llama", recipe.config)
        context = context_of(model)
        optimizer = torch.optim.AdamW(_param_groups(model, recipe.weight_decay), lr=recipe.lr,
                                      betas=(0.9, recipe.beta2))

        def factor(step: int) -> float:
            if step < recipe.warmup:
                return (step + 1) / recipe.warmup
            progress_ = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
            cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress_)))
            return recipe.min_lr_ratio + (1.0 - recipe.min_lr_ratio) * cosine

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        sampler = torch.Generator().manual_seed(seed)
        high = corpus.train.numel() - context
        all_val = validation_starts(corpus.validation.numel(), context)
        pick = torch.linspace(0, all_val.numel() - 1, min(recipe.eval_windows, all_val.numel()))
        curve_starts = all_val[pick.round().long()]
        curve, window, eval_seconds, eval_cpu = [], [], 0.0, 0.0
        started, cpu_started = time.perf_counter(), time.process_time()
        model.train()
        for step in range(1, recipe.steps + 1):
            x, y = windows(corpus.train, torch.randint(0, high, (recipe.batch_size,),
                                                       generator=sampler), context)
            logits = model(x)  # (batch, context, 256)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
            schedule.step()
            window.append(loss.item())
            if on_step is not None:
                on_step(model, optimizer, step)
            if step % recipe.eval_every == 0 or step == recipe.steps:
                tick, cpu_tick = time.perf_counter(), time.process_time()
                val = evaluate_lm(model, corpus.validation, curve_starts, recipe.eval_batch_size)
                eval_seconds += time.perf_counter() - tick
                eval_cpu += time.process_time() - cpu_tick
                curve.append({"step": step, "train_loss": sum(window) / len(window),
                              "validation_loss_subset": val["loss"],
                              "seconds": round(time.perf_counter() - started - eval_seconds, 1)})
                window = []
                if progress:
                    print(f"  llama seed {seed} step {step}/{recipe.steps} "
                          f"train {curve[-1]['train_loss']:.4f} val~ {val['loss']:.4f} "
                          f"({val['bits_per_byte']:.3f} bits/byte) "
                          f"{curve[-1]['seconds']:.0f}s", flush=True)
        train_seconds = time.perf_counter() - started - eval_seconds
        train_cpu = time.process_time() - cpu_started - eval_cpu
        model.eval()
        tick = time.perf_counter()
        validation = evaluate_lm(model, corpus.validation, None, recipe.eval_batch_size) \
            if final_validation else None
        final_eval = time.perf_counter() - tick
    finally:
        torch.set_num_threads(previous_threads)
    record = {
        "family": "llama",
        "config": model.config.to_dict(),
        "recipe": recipe.to_dict(),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "steps": recipe.steps,
        "tokens_seen": recipe.steps * recipe.batch_size * context,
        "metrics": {"validation": validation,
                    "final_train_loss": curve[-1]["train_loss"] if curve else None},
        "curve": curve,
        "seconds": {"train": round(train_seconds, 2), "train_cpu": round(train_cpu, 2),
                    "evaluate": round(eval_seconds + final_eval, 2),
                    "per_step": round(train_seconds / recipe.steps, 4)},
        "data": corpus.summary(),
    }
    return model, record
