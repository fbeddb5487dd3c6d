"""Trained base networks shared between experiments: train N4 once per seed, not once per
experiment.

``baseline-training``, ``cutoff-pruning``, ``goal-pruning`` and ``input-pruning`` each start
from the same net: N4 initialised with the run's seed and initialisation, trained 5000 paper
epochs on the same data with the same protocol. Under the paper protocol that training is
21–26 minutes a net here (one core), repeated by every experiment for every seed and every
arm of the fidelity study. With ``$NEUROPLAST_TRAINED_CACHE=DIR`` set, :func:`cached_training`
stores the first such training (weights as safetensors, its key and ``History.final`` as JSON)
and every later run with the same key loads it instead of training again.

The key is everything the trained weights depend on: architecture, paper epochs, seed,
initialisation, every protocol field, the data's fingerprint (contents, so standard and
inverted MNIST differ), the torch version and its thread count (accumulation orders), and
neuroplast's version. A hit gives the very tensors a fresh training would give on this
machine; the ``final`` metrics and wall time are those of the training that made them (marked
``from_cache``). Nothing is cached without the variable: stored results do not depend on a
hidden cache. No pickle is written or read; a file whose key does not match is ignored and
replaced.

A training the cache starts is resumable: it saves a checkpoint beside the cache entry
(``<digest>.partial.safetensors``, :mod:`neuroplast.train.checkpoint`) about once a minute, so
a run killed part-way (the end of a session, a time limit) continues where it stopped the next
time a run needs the same net, with the same result; the checkpoint is removed once the net is
stored.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

import neuroplast
from neuroplast.experiments.stage_checkpoints import note_resumed
from neuroplast.files import atomic_write, atomic_write_text
from neuroplast.train.checkpoint import Checkpoint, discard_checkpoint
from neuroplast.train.lr_schedule import DEFAULT_LR_SCHEDULE
from neuroplast.train.protocols import Protocol

CACHE_ENV_VAR = "NEUROPLAST_TRAINED_CACHE"


def cache_folder() -> Path | None:
    """``$NEUROPLAST_TRAINED_CACHE`` as a path, or None (no caching)."""
    value = os.environ.get(CACHE_ENV_VAR, "")
    return Path(value) if value else None


def training_key(arch: str, paper_epochs: float, seed: int, init: str, protocol: Protocol,
                 data_fingerprint: str) -> dict[str, Any]:
    """Everything a trained base net depends on, as plain JSON data.

    ``decay_biases`` enters only when False and ``lr_schedule`` only when not ``constant``, so
    nets stored before the protocol had those fields (all trained with decaying biases at a
    constant rate) keep their keys.
    """
    fields = asdict(protocol) | {"description": None}
    if protocol.decay_biases:
        del fields["decay_biases"]
    if protocol.lr_schedule == DEFAULT_LR_SCHEDULE:
        del fields["lr_schedule"]
    return {"arch": arch, "paper_epochs": float(paper_epochs), "seed": int(seed), "init": init,
            "protocol": fields,
            "data": data_fingerprint, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "neuroplast": neuroplast.__version__}


def _digest(key: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


CHECKPOINT_EVERY_S = 60.0
"""Seconds between the checkpoints of a training the cache starts."""


def cached_training(make_key: Callable[[], Mapping[str, Any]], model: nn.Module,
                    train: Callable[[Checkpoint | None], dict[str, Any]], *,
                    uncached: Checkpoint | None = None) -> dict[str, Any]:
    """Train ``model`` in place with ``train(checkpoint) -> final``, or load what an earlier
    call with the same key stored (only when ``$NEUROPLAST_TRAINED_CACHE`` is set; ``make_key``
    is called only then, as the data's fingerprint reads all of it).

    ``train`` gets ``uncached`` without the cache (the run's own checkpoint, if any), and
    otherwise a :class:`~neuroplast.train.checkpoint.Checkpoint` beside the cache entry, to
    pass on to :func:`neuroplast.train.train`, which resumes from it if an earlier attempt was
    interrupted. A partial file that does not belong to this training is removed and the net
    trained from the beginning.

    Returns:
        ``final`` (JSON data) of the training; with ``from_cache`` True on a hit.
    """
    folder = cache_folder()
    if folder is None:
        return train(uncached)
    key = make_key()
    stem = folder / _digest(key)
    checkpoint = Checkpoint(stem.with_name(f"{stem.name}.partial.safetensors"),
                            every_s=CHECKPOINT_EVERY_S, key=key, remove_at_end=False,
                            replace_foreign=True)
    meta_path, weights_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") == json.loads(json.dumps(key)) and weights_path.is_file():
            state = load_file(str(weights_path))
            model.load_state_dict(state)
            discard_checkpoint(checkpoint)  # another process stored it first
            return dict(meta["final"]) | {"from_cache": True}
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError):
        pass  # absent, unreadable or another key: train and replace
    final = train(checkpoint)  # a partial file of other code is replaced (replace_foreign)
    if final.get("resumed_at_epoch") is not None:
        note_resumed(f"trained-cache-{stem.name}")
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().contiguous().cpu()
             for name, tensor in model.state_dict().items()}
    atomic_write(weights_path, lambda handle: handle.write(save(state)))
    atomic_write_text(meta_path, json.dumps({"key": key, "final": final}, indent=1) + "\n")
    discard_checkpoint(checkpoint)  # only now: the net is stored
    return final
