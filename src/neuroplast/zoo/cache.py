"""The cache of trained zoo models: safetensors weights and a JSON record, never pickle.

An entry is a folder ``<cache>/<key>/seed<S>/`` with

* ``model.safetensors`` — the state dict (loaded strictly into a fresh model);
* ``meta.json`` — the model family, its factory config, the training recipe, the seed, the
  metrics, timings, the data fingerprint and the software versions.

Loading is ``registry.build(family, config)`` + the weights. The cache folder is ``cache`` if
given, else ``$NEUROPLAST_CACHE``, else ``$XDG_CACHE_HOME/neuroplast/zoo`` (default
``~/.cache/neuroplast/zoo``). An entry is written into a temporary folder and renamed into
place, so a killed build leaves no half entry; an existing entry is never replaced unless
``force`` is given.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from neuroplast.data import default_cache_dir
from neuroplast.errors import NeuroplastError
from neuroplast.zoo.registry import build

CACHE_ENV_VAR = "NEUROPLAST_CACHE"
WEIGHTS = "model.safetensors"
META = "meta.json"
FORMAT = "neuroplast-zoo"
VERSION = 1


def cache_dir(cache: str | Path | None = None) -> Path:
    """The zoo cache folder: ``cache``, else ``$NEUROPLAST_CACHE``, else the user cache."""
    if cache is not None:
        return Path(cache)
    env = os.environ.get(CACHE_ENV_VAR, "")
    return Path(env) if env else default_cache_dir("zoo")


def entry_dir(key: str, seed: int, cache: str | Path | None = None) -> Path:
    """The folder of one cached model: ``<cache>/<key>/seed<seed>``."""
    return cache_dir(cache) / key / f"seed{int(seed)}"


def is_cached(key: str, seed: int, cache: str | Path | None = None) -> bool:
    """True when a complete entry (weights and record) exists."""
    folder = entry_dir(key, seed, cache)
    return (folder / WEIGHTS).is_file() and (folder / META).is_file()


def save_entry(model: nn.Module, key: str, seed: int, meta: dict[str, Any], *,
               cache: str | Path | None = None, force: bool = False) -> Path:
    """Write ``model``'s weights and ``meta`` as the entry ``key``/``seed``.

    Args:
        model: the trained model.
        key: the entry name (the model family, or ``<family>-quick`` for smoke runs).
        seed: the training seed.
        meta: JSON-serialisable record; must hold ``family`` and ``config`` (the factory's
            keyword arguments) so that the entry can be loaded.
        cache: the cache folder (see :func:`cache_dir`).
        force: replace an existing entry.

    Raises:
        NeuroplastError: if the entry exists and ``force`` is False, or ``meta`` lacks
            ``family`` / ``config`` or is not JSON-serialisable.
    """
    if "family" not in meta or "config" not in meta:
        raise NeuroplastError("a zoo entry's meta needs 'family' and 'config' to be loadable")
    final = entry_dir(key, seed, cache)
    if final.exists() and not force:
        raise NeuroplastError(f"{final} already exists; pass --force to retrain and replace it")
    record = {"format": FORMAT, "version": VERSION, "key": key, "seed": int(seed), **meta}
    try:
        text = json.dumps(record, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NeuroplastError(f"the record of {key} seed {seed} is not plain JSON ({exc})") \
            from None
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = safetensors_bytes(state, metadata={"format": FORMAT, "key": key,
                                                 "family": str(meta["family"])})
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(final, "tmp")
    try:
        tmp.mkdir()  # created with the user's umask, as are the files below
        (tmp / WEIGHTS).write_bytes(weights)
        (tmp / META).write_text(text + "\n", encoding="utf-8")
        if final.exists():  # force: move the old entry aside, then delete it
            old = _sibling(final, "old")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _sibling(folder: Path, tag: str) -> Path:
    """A hidden, unique name beside ``folder`` (same file system: renames are atomic)."""
    return folder.parent / f".{folder.name}.{tag}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


def read_meta(key: str, seed: int, cache: str | Path | None = None) -> dict[str, Any]:
    """The JSON record of an entry.

    Raises:
        NeuroplastError: if the entry does not exist or its record is not a zoo record.
    """
    folder = entry_dir(key, seed, cache)
    if not is_cached(key, seed, cache):
        family, quick = key.removesuffix("-quick"), " --quick" if key.endswith("-quick") else ""
        raise NeuroplastError(
            f"no cached {key} model for seed {seed} in {folder.parent}; build it with "
            f"`python -m benchmarks.architectures.build {family} --seed {seed}{quick}`"
        )
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise NeuroplastError(f"{folder / META} is not JSON ({exc}); rebuild with --force") \
            from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise NeuroplastError(f"{folder / META} is not a neuroplast zoo record; rebuild with "
                              "--force")
    if meta.get("version") != VERSION:
        raise NeuroplastError(f"{folder / META} has zoo format version {meta.get('version')}, "
                              f"this neuroplast reads version {VERSION}; rebuild with --force")
    return meta


def load_entry(key: str, seed: int, cache: str | Path | None = None, *,
               dtype: torch.dtype | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A cached model and its record: the family's factory with the recorded config, then the
    safetensors weights loaded strictly; the model is returned in eval mode.

    Args:
        key: the entry name (``vgg``, ``resnet``, ``llama``).
        seed: the training seed.
        cache: the cache folder (see :func:`cache_dir`).
        dtype: convert the model to this dtype after loading (e.g. ``torch.float64``).

    Raises:
        NeuroplastError: if the entry is missing or damaged, or its weights do not fit.
    """
    meta = read_meta(key, seed, cache)
    model = build(meta["family"], meta["config"])
    path = entry_dir(key, seed, cache) / WEIGHTS
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise NeuroplastError(f"{path} is not a readable safetensors file ({exc}); rebuild "
                              "with --force") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise NeuroplastError(f"the weights in {path} do not fit a {meta['family']} with config "
                              f"{meta['config']} ({first}); rebuild with --force") from None
    if dtype is not None:
        model = model.to(dtype)
    return model.eval(), meta
