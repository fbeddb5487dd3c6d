"""Saving and loading models whose widths changed (pruned, grown, input features selected).

A file is a ``torch.save`` dictionary with a format tag and version, the architecture (current
widths, activation, full input size, kept input features), the state dict and free metadata
(training protocol, seed, history). Loading uses ``weights_only=True``: no code is unpickled.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import torch

from neuroplast.errors import NeuroplastError
from neuroplast.files import atomic_write, check_replaceable_file
from neuroplast.models.mlp import MLP, check_widths

FORMAT = "neuroplast-model"
VERSION = 1


def save_model(model: MLP, path: str | Path, *, metadata: dict[str, Any] | None = None,
               overwrite: bool = False) -> Path:
    """Write ``model`` to ``path`` atomically, with the permissions the umask gives new files.

    Args:
        model: the model to save.
        path: destination file.
        metadata: JSON-like data stored beside the weights (protocol, seed, history, ...).
        overwrite: replace an existing file; without it an existing file is never touched.

    Raises:
        NeuroplastError: if the file exists and ``overwrite`` is False, if it is not a regular
            file (never replaced, even with ``overwrite``), or if ``metadata`` holds
            something other than dicts, lists, tuples, str, int, float, bool, None and tensors
            (anything else could not be read back with ``weights_only=True``).
    """
    path = Path(path)
    check_replaceable_file(path, overwrite, str(path), "choose another --out or pass --force")
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
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def load_model(path: str | Path) -> tuple[MLP, dict[str, Any]]:
    """Read a model written by :func:`save_model`; returns ``(model, metadata)``.

    The model comes back with the saved widths, activation, dtype, full input size
    (``selector.n_features``) and kept input features (``selector.kept``), so an input-pruned
    model still accepts full-size inputs. Nothing is unpickled (``weights_only=True``), and
    the whole file is checked before any tensor is allocated: the declared widths against the
    stored tensors' shapes, every key of the state dict, and the kept input features (distinct,
    in range, the same in the architecture and in the state dict).

    Raises:
        FileNotFoundError: if the file does not exist.
        NeuroplastError: if the file cannot be read (permissions), is not a neuroplast model,
            has another format version, or is damaged (its parts do not fit together).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    if path.is_dir():
        raise NeuroplastError(f"{path} is a directory, not a model file; give the .pt file")
    payload = _unpickle(_read(path), path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise NeuroplastError(
            f"{path} is not a neuroplast model file (no '{FORMAT}' tag); "
            "create one with `neuroplast train --out`"
        )
    if payload.get("version") != VERSION:
        raise NeuroplastError(
            f"{path} has model format version {payload.get('version')!r}, this neuroplast "
            f"reads version {VERSION}; re-save it with the neuroplast version that wrote it"
        )
    try:
        model = _rebuild(payload)
        metadata = payload.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ValueError(f"its metadata is a {type(metadata).__name__}, not a dict")
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        if isinstance(exc, KeyError):
            reason = f"no {exc.args[0]!r} entry"
        else:
            reason = " ".join(str(exc).split())[:200] or exc.__class__.__name__
        raise NeuroplastError(
            f"{path} is a damaged neuroplast model file ({reason}); re-create it with "
            "`neuroplast train --out`"
        ) from None
    return model, dict(metadata)


def _read(path: Path) -> bytes:
    """The file's bytes; an unreadable file is named with the operating system's reason."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise NeuroplastError(
            f"cannot read {path}: {exc.strerror or exc}; check the file's permissions"
        ) from None


def _unpickle(data: bytes, path: Path) -> Any:
    """``torch.load(weights_only=True)`` of ``data``: no code runs, torch's warnings stay quiet
    (a refused file gets one line of its own)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unloadable file gets the same advice
        raise NeuroplastError(
            f"{path} is not a neuroplast model file (torch.load failed: {exc.__class__.__name__}); "
            "create one with `neuroplast train --out`"
        ) from None


def _rebuild(payload: dict[str, Any]) -> MLP:
    """The model a loaded payload describes, once every part is checked against the others.

    Nothing is allocated before the declared widths agree with the stored tensors, so a small
    file cannot ask for a huge model.
    """
    widths = check_widths(_integers(payload["widths"], "widths"))
    activation = payload["activation"]
    if not isinstance(activation, str):
        raise ValueError(f"the activation is a {type(activation).__name__}, not a name")
    (n_inputs,) = _integers([payload["n_inputs"]], "n_inputs")
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise ValueError("the state dict is not a dict of tensors")
    _check_state_keys(state, len(widths) - 1)
    dtype = _check_layer_shapes(state, widths)
    kept = _check_kept(payload["kept_inputs"], state["selector.kept"], widths[0], n_inputs)
    model = MLP(widths, activation)
    model.selector.n_features = n_inputs
    model.selector.kept = kept
    model.to(dtype)  # keep float64 models float64
    model.load_state_dict(state)
    return model


def _integers(values: Any, name: str) -> list[int]:
    """``values`` as ints; refuses floats, booleans and anything that is not a sequence."""
    if not isinstance(values, list | tuple):
        raise ValueError(f"{name} is a {type(values).__name__}, not a list of integers")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{name} {list(values)!r} are not all integers")
    return list(values)


def _check_state_keys(state: dict[str, torch.Tensor], n_layers: int) -> None:
    expected = {"selector.kept"} | {f"layers.{i}.{part}" for i in range(n_layers)
                                    for part in ("weight", "bias")}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(
            "the state dict does not fit the widths"
            + (f": missing {', '.join(missing)}" if missing else "")
            + (f": unexpected {', '.join(extra)}" if extra else "")
        )


def _check_layer_shapes(state: dict[str, torch.Tensor], widths: list[int]) -> torch.dtype:
    """The layers' common floating dtype, once every weight and bias has its declared shape."""
    dtypes = set()
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        for part, shape in (("weight", (n_out, n_in)), ("bias", (n_out,))):
            tensor = state[f"layers.{i}.{part}"]
            if tuple(tensor.shape) != shape:
                raise ValueError(
                    f"layers.{i}.{part} has shape {tuple(tensor.shape)} but the widths "
                    f"{widths} declare {shape}"
                )
            dtypes.add(tensor.dtype)
    if len(dtypes) != 1 or not next(iter(dtypes)).is_floating_point:
        raise ValueError(
            f"the layers must share one floating dtype, got {sorted(map(str, dtypes))}"
        )
    return dtypes.pop()


def _check_kept(kept: Any, stored: torch.Tensor, width: int, n_inputs: int) -> torch.Tensor:
    """The kept input features: the same in the architecture and the state dict, distinct,
    one per input of the first layer, each in ``[0, n_inputs)``."""
    if not isinstance(kept, torch.Tensor):
        raise ValueError("kept_inputs is not a tensor")
    for name, tensor in (("kept_inputs", kept), ("selector.kept", stored)):
        if tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool:
            raise ValueError(f"{name} holds {tensor.dtype} values, not feature indices")
        if tensor.dim() != 1 or tensor.numel() != width:
            raise ValueError(
                f"{name} has shape {tuple(tensor.shape)} but the first layer reads {width} "
                "features"
            )
    kept = kept.to(torch.long)
    if not torch.equal(kept, stored.to(torch.long)):
        raise ValueError("kept_inputs and the state dict's selector.kept differ")
    if width > n_inputs or int(kept.min()) < 0 or int(kept.max()) >= n_inputs:
        raise ValueError(
            f"kept input features ({width}) do not fit the widths and {n_inputs} inputs: "
            f"indices from {int(kept.min())} to {int(kept.max())}"
        )
    if kept.unique().numel() != width:
        raise ValueError("kept input features repeat a feature")
    return kept.clone()


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
