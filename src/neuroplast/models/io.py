"""Saving and loading models whose widths changed (pruned, grown, input features selected).

A file is a ``torch.save`` dictionary with a format tag and version, the architecture (current
widths, activation, full input size, kept input features), the state dict and free metadata
(training protocol, seed, history). Loading uses ``weights_only=True``: no code is unpickled.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from neuroplast.errors import NeuroplastError
from neuroplast.models.mlp import MLP

FORMAT = "neuroplast-model"
VERSION = 1


def save_model(model: MLP, path: str | Path, *, metadata: dict[str, Any] | None = None,
               overwrite: bool = False) -> Path:
    """Write ``model`` to ``path`` atomically.

    Args:
        model: the model to save.
        path: destination file.
        metadata: JSON-like data stored beside the weights (protocol, seed, history, ...).
        overwrite: replace an existing file; without it an existing file is never touched.

    Raises:
        NeuroplastError: if the file exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise NeuroplastError(f"{path} already exists; choose another --out or pass --force")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "widths": model.widths,
        "activation": model.activation_name,
        "n_inputs": model.n_inputs,
        "kept_inputs": model.selector.kept.clone(),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_model(path: str | Path) -> tuple[MLP, dict[str, Any]]:
    """Read a model written by :func:`save_model`; returns ``(model, metadata)``.

    Raises:
        FileNotFoundError: if the file does not exist.
        NeuroplastError: if the file is not a neuroplast model or has another format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise NeuroplastError(
            f"{path} is not a neuroplast model file (torch.load failed: {exc.__class__.__name__}); "
            "create one with `neuroplast train --out`"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise NeuroplastError(
            f"{path} is not a neuroplast model file (no '{FORMAT}' tag); "
            "create one with `neuroplast train --out`"
        )
    if payload.get("version") != VERSION:
        raise NeuroplastError(
            f"{path} has model format version {payload.get('version')}, this neuroplast reads "
            f"version {VERSION}; re-save it with the neuroplast version that wrote it"
        )
    model = MLP(payload["widths"], payload["activation"])
    model.selector.n_features = int(payload["n_inputs"])
    model.selector.kept = payload["kept_inputs"].to(torch.long)
    model.load_state_dict(payload["state_dict"])
    return model, dict(payload["metadata"])
