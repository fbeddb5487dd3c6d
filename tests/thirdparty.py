"""Importing torchvision and Hugging Face transformers for tests, or None when absent.

torchvision's wheel on PyPI for the pinned torch is a CUDA build whose compiled operators do
not load next to the CPU torch wheel: ``import torchvision`` then fails with "operator
torchvision::nms does not exist" while registering the fake (meta) kernels of ``nms`` and
``qnms``. Tests only build models (no detection ops), so declaring the two operator schemas
first is enough for the import to succeed; transformers imports torchvision, so it needs the
same. The schemas are declared only when the operators are missing (a working torchvision
build, e.g. a CPU wheel, is left untouched).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

import torch

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


def _has_nms() -> bool:
    try:
        torch.ops.torchvision.nms  # noqa: B018 - looking the operator up is the test
    except (AttributeError, RuntimeError):
        return False
    return True


def _declare_missing_ops() -> torch.library.Library | None:
    """Declare ``torchvision::nms``/``qnms`` when torchvision is installed and its compiled
    operators cannot be loaded; returns the library object, which must stay alive for the
    schemas to."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None or _has_nms():
        return None
    for extension in sorted(Path(spec.origin).parent.glob("_C.*")):
        try:  # what torchvision does on import; a matching build loads here
            torch.ops.load_library(str(extension))
        except (OSError, RuntimeError):
            continue
        if _has_nms():
            return None
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        library.define(schema)
    return library


_LIBRARY = _declare_missing_ops()
"""Kept at module level: dropping the Library object would remove the declared schemas."""


def import_torchvision_models() -> ModuleType | None:
    """``torchvision.models``, or None when torchvision is not installed."""
    if importlib.util.find_spec("torchvision") is None:
        return None
    return importlib.import_module("torchvision.models")


def import_transformers() -> ModuleType | None:
    """``transformers``, or None when it is not installed."""
    if importlib.util.find_spec("transformers") is None:
        return None
    return importlib.import_module("transformers")
