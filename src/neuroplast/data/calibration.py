"""Calibration data for a user's own model: inputs (and labels) from a file or an image folder.

Statistics, efficiencies and goals need examples of what the model reads. One reader per kind
of source (:data:`READERS`, by file suffix; a folder is an image folder), none of which
unpickles anything:

* ``.npz`` — NumPy arrays (``allow_pickle=False``);
* ``.npy`` — one NumPy array, the inputs;
* ``.pt`` / ``.pth`` — a tensor, a dict of tensors or an ``(x, y)`` pair, read with
  ``torch.load(weights_only=True)``;
* ``.safetensors`` — tensors;
* a folder of images (PNG, JPEG, BMP, GIF, TIFF, WebP; Pillow) → float tensors (N, C, H, W)
  in [0, 1], C = 1 when every image is grey, else 3 (RGB). Images in sub-folders are labelled
  by sub-folder, in sorted order (torchvision's ``ImageFolder`` convention).

Named arrays: the inputs are ``x`` (or ``inputs``, ``input``, ``images``, ``data``, or the one
array that is not labels), the labels ``y`` (or ``labels``, ``targets``). Floating inputs keep
their values (cast to the model's dtype by :meth:`Calibration.inputs_for`); integer inputs
stay integers (token ids). Labels are integer class indices, one per example.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuroplast.errors import NeuroplastError
from neuroplast.files import load_without_pickle

INPUT_KEYS = ("x", "inputs", "input", "images", "data")
LABEL_KEYS = ("y", "labels", "targets")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


@dataclass(frozen=True)
class Calibration:
    """Examples of a model's input.

    Attributes:
        x: (N, ...) inputs, examples along dim 0.
        y: (N,) int64 class labels, or None.
        source: where they came from (for messages).
    """

    x: torch.Tensor
    y: torch.Tensor | None
    source: str

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    def inputs_for(self, model: torch.nn.Module) -> torch.Tensor:
        """``x`` on the device of ``model``'s first floating parameter, in its dtype
        (integer inputs keep their integer dtype)."""
        first = next((p for p in model.parameters() if p.is_floating_point()), None)
        if first is None:
            return self.x
        dtype = first.dtype if self.x.is_floating_point() else self.x.dtype
        return self.x.to(device=first.device, dtype=dtype)

    def labels_for(self, model: torch.nn.Module) -> torch.Tensor | None:
        """``y`` on the device of ``model``'s first parameter, or None."""
        first = next(iter(model.parameters()), None)
        return self.y if self.y is None or first is None else self.y.to(first.device)

    def head(self, limit: int | None) -> Calibration:
        """The first ``limit`` examples (all when None)."""
        if limit is None or limit >= self.n:
            return self
        return Calibration(self.x[:limit], None if self.y is None else self.y[:limit],
                           self.source)

    def batches(self, model: torch.nn.Module, batch_size: int) -> list[Any]:
        """Consecutive batches: ``x`` tensors, or ``(x, y)`` pairs when there are labels."""
        x, y = self.inputs_for(model), self.labels_for(model)
        out = []
        for start in range(0, self.n, batch_size):
            xb = x[start:start + batch_size]
            out.append(xb if y is None else (xb, y[start:start + batch_size]))
        return out


# -- named arrays → Calibration ----------------------------------------------------------------


def _tensor(value: Any, name: str, source: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        if value.dtype == object or not (np.issubdtype(value.dtype, np.number)
                                         or value.dtype == bool):
            raise NeuroplastError(f"{source}: array {name!r} holds {value.dtype} values; "
                                  "give numbers")
        return torch.from_numpy(np.ascontiguousarray(value))
    if torch.is_tensor(value):
        return value
    raise NeuroplastError(f"{source}: {name!r} is a {type(value).__name__}, not an array")


def from_arrays(arrays: Mapping[str, Any], source: str) -> Calibration:
    """Inputs and labels from named arrays (see the module docstring for the names).

    Raises:
        NeuroplastError: when the inputs cannot be told apart, are empty or not numbers, or
            the labels are not one integer per example.
    """
    names = list(arrays)
    label_key = next((k for k in LABEL_KEYS if k in arrays), None)
    input_key = next((k for k in INPUT_KEYS if k in arrays), None)
    if input_key is None:
        others = [k for k in names if k != label_key]
        if len(others) != 1:
            raise NeuroplastError(
                f"{source} holds {', '.join(map(repr, names)) or 'nothing'}; name the inputs "
                "'x' (and the labels 'y' or 'labels')"
            )
        input_key = others[0]
    x = _tensor(arrays[input_key], input_key, source)
    if x.dim() == 0 or x.shape[0] == 0:
        raise NeuroplastError(f"{source}: the inputs {input_key!r} hold no examples "
                              f"(shape {tuple(x.shape)}); give at least one along dim 0")
    if x.dtype == torch.bool:
        x = x.to(torch.float32)
    elif not x.is_floating_point():
        x = x.to(torch.int64)
    y = None
    if label_key is not None:
        y = _tensor(arrays[label_key], label_key, source)
        if y.is_floating_point() or y.dtype == torch.bool or y.dim() != 1 or \
                y.shape[0] != x.shape[0]:
            raise NeuroplastError(
                f"{source}: labels {label_key!r} must be {x.shape[0]} integer class indices "
                f"(one per example), got {y.dtype} of shape {tuple(y.shape)}"
            )
        y = y.to(torch.int64)
        if int(y.min()) < 0:
            raise NeuroplastError(f"{source}: labels {label_key!r} must be >= 0")
    return Calibration(x, y, source)


# -- readers -------------------------------------------------------------------------------------


def _read_npz(path: Path) -> Calibration:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return from_arrays(arrays, str(path))


def _read_npy(path: Path) -> Calibration:
    return from_arrays({"x": np.load(path, allow_pickle=False)}, str(path))


def _read_torch(path: Path) -> Calibration:
    value = load_without_pickle(path, str(path), "save tensors, a dict of tensors or an (x, y) "
                                "pair, or use .npz / .safetensors")
    if torch.is_tensor(value):
        return from_arrays({"x": value}, str(path))
    if isinstance(value, tuple | list) and len(value) == 2:
        return from_arrays({"x": value[0], "y": value[1]}, str(path))
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return from_arrays(value, str(path))
    raise NeuroplastError(f"{path} holds a {type(value).__name__}; give a tensor, a dict of "
                          "tensors or an (x, y) pair")


def _read_safetensors(path: Path) -> Calibration:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise NeuroplastError(f"{path} is not a safetensors file "
                              f"({' '.join(str(exc).split())[:120]})") from None
    return from_arrays(tensors, str(path))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_image_folder(folder: Path) -> Calibration:
    try:
        from PIL import Image
    except ImportError:
        raise NeuroplastError("reading an image folder needs Pillow: pip install pillow") \
            from None
    files = _image_files(folder)
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and _image_files(p))
    if files and classes:
        raise NeuroplastError(
            f"{folder} holds images and image sub-folders; put every image in a class "
            "sub-folder (labelled) or all of them directly in the folder (no labels)"
        )
    labelled = [(p, label) for label, c in enumerate(classes) for p in _image_files(c)]
    items = labelled or [(p, None) for p in files]
    if not items:
        raise NeuroplastError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    images = []
    for path, _ in items:
        try:
            with Image.open(path) as image:
                image.load()
                images.append(image.copy())
        except OSError as exc:
            raise NeuroplastError(f"{path} is not a readable image ({exc})") from None
    grey = all(image.mode in ("1", "L", "I;16", "I", "F") for image in images)
    arrays = [np.asarray(image.convert("L" if grey else "RGB"), dtype=np.float32) / 255.0
              for image in images]
    sizes = {a.shape for a in arrays}
    if len(sizes) > 1:
        first, other = sorted(sizes)[:2]
        raise NeuroplastError(
            f"{folder}: the images differ in size ({first[1]}x{first[0]} and "
            f"{other[1]}x{other[0]}); resize them to one size"
        )
    x = torch.from_numpy(np.stack(arrays))  # (N, H, W) or (N, H, W, 3)
    x = x.unsqueeze(1) if grey else x.permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)
    y = torch.tensor([label for _, label in items]) if labelled else None
    return Calibration(x, y, str(folder))


READERS: dict[str, Callable[[Path], Calibration]] = {
    ".npz": _read_npz,
    ".npy": _read_npy,
    ".pt": _read_torch,
    ".pth": _read_torch,
    ".safetensors": _read_safetensors,
}
"""File suffix → reader; a folder is read as an image folder."""


def read_calibration(path: str | Path) -> Calibration:
    """The calibration data at ``path`` (a file of a suffix in :data:`READERS`, or a folder).

    Raises:
        FileNotFoundError: if nothing is at ``path``.
        NeuroplastError: one line, for an unknown suffix or contents that are not examples.
    """
    path = Path(path)
    if path.is_dir():
        return _read_image_folder(path)
    if not path.is_file():
        raise FileNotFoundError(f"no calibration data at {path}")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise NeuroplastError(
            f"{path}: unknown data format {path.suffix or '(no suffix)'}; give "
            f"{', '.join(READERS)} or a folder of images"
        )
    try:
        return reader(path)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, NeuroplastError):
            raise
        raise NeuroplastError(f"{path} cannot be read ({exc.__class__.__name__}: "
                              f"{' '.join(str(exc).split())[:120]})") from None
