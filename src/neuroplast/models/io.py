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
        NeuroplastError: if the file exists and ``overwrite`` is False, or if ``metadata`` holds
            something other than dicts, lists, tuples, str, int, float, bool, None and tensors
            (anything else could not be read back with ``weights_only=True``).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise NeuroplastError(f"{path} already exists; choose another --out or pass --force")
    metadata = dict(metadata or {})
    _check_metadata(metadata, "metadata")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "widths": model.widths,
        "activation": model.activation_name,
        "n_inputs": model.n_inputs,
        "kept_inputs": model.selector.kept.clone(),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "metadata": metadata,
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

    The model comes back with the saved widths, activation, dtype, full input size
    (``selector.n_features``) and kept input features (``selector.kept``), so an input-pruned
    model still accepts full-size inputs.

    Raises:
        FileNotFoundError: if the file does not exist.
        NeuroplastError: if the file is not a neuroplast model, has another format version, or
            is damaged (its parts do not fit together).
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
    try:
        model = _rebuild(payload)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        if isinstance(exc, KeyError):
            reason = f"no {exc.args[0]!r} entry"
        else:
            reason = " ".join(str(exc).split())[:200] or exc.__class__.__name__
        raise NeuroplastError(
            f"{path} is a damaged neuroplast model file ({reason}); re-create it with "
            "`neuroplast train --out`"
        ) from None
    return model, dict(payload.get("metadata") or {})


def _rebuild(payload: dict[str, Any]) -> MLP:
    """The model described by a loaded payload (architecture, kept inputs, then weights)."""
    widths = [int(w) for w in payload["widths"]]
    n_inputs = int(payload["n_inputs"])
    kept = torch.as_tensor(payload["kept_inputs"]).to(torch.long).flatten()  # (n_kept,)
    if kept.numel() != widths[0] or (kept.numel() and (kept.min() < 0 or kept.max() >= n_inputs)):
        raise ValueError(
            f"kept input features ({kept.numel()}) do not match the widths {widths} "
            f"and {n_inputs} inputs"
        )
    state = payload["state_dict"]
    model = MLP(widths, payload["activation"])
    model.selector.n_features = n_inputs
    model.selector.kept = kept.clone()
    model.to(state["layers.0.weight"].dtype)  # keep float64 models float64
    model.load_state_dict(state)
    return model


_METADATA_LEAVES = (str, int, float, bool, type(None))
"""Exact types (also for dict, list, tuple): subclasses such as ``numpy.float64`` (a float) or
a named tuple would not load back."""


def _check_metadata(value: Any, where: str) -> None:
    """Refuse metadata that ``torch.load(weights_only=True)`` could not read back."""
    if type(value) is dict:
        for key, item in value.items():
            _check_metadata(key, f"{where} key {key!r}")
            _check_metadata(item, f"{where}[{key!r}]")
    elif type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_metadata(item, f"{where}[{i}]")
    elif type(value) not in _METADATA_LEAVES and not isinstance(value, torch.Tensor):
        raise NeuroplastError(
            f"{where} is a {type(value).__name__}; model metadata may only hold dicts, lists, "
            "str, int, float, bool, None and tensors (convert it, e.g. with float() or .tolist())"
        )
