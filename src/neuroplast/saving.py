"""Saving and loading any pruned or grown model: a plan and safetensors weights, never pickle.

A saved model is a **folder** with two files:

* ``plan.json`` — the shape changes of the model's sites, by module name
  (:mod:`neuroplast.sites.plan`), plus free JSON ``metadata`` (what the CLI did, metrics);
* ``model.safetensors`` — the state dict. Tensors tied to another (a shared embedding) are
  stored once and named in the file's metadata as safetensors' own ``save_model`` does
  (``{dropped name: kept name}``), so ``safetensors.torch.load_model`` reads the file too.

:func:`load` rebuilds the model through the user's constructor: ``factory()`` makes an
unpruned instance, the plan is replayed on it, and the weights are loaded with their saved
dtypes. Neither file can run code: the plan is JSON and the weights are safetensors (a pickle
in their place is refused, never unpickled). The paper MLP's own file format stays readable
through :func:`neuroplast.models.load_model`.

Nothing is overwritten without ``force=True``, and even then only a folder that holds nothing
but a saved model (a plain file or a symbolic link is never replaced); the folder is written
next to its destination and renamed into place, so a failed save leaves the old one intact.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from neuroplast.compiled import compiled_parts_unwrapped, uncompiled
from neuroplast.errors import NeuroplastError
from neuroplast.files import check_not_empty, check_writable_directory
from neuroplast.sites.plan import apply_plan, check_header, plan_of

PLAN_FILE = "plan.json"
WEIGHTS_FILE = "model.safetensors"
SAVED_FILES = frozenset({PLAN_FILE, WEIGHTS_FILE})

Factory = Callable[[], nn.Module]
"""Builds an unpruned instance of the saved architecture (the user's own constructor)."""


# -- save ----------------------------------------------------------------------------------------


def is_saved_model(path: str | Path) -> bool:
    """Whether ``path`` is a folder written by :func:`save` (it holds ``plan.json``)."""
    return (Path(path) / PLAN_FILE).is_file()


def check_destination(path: str | Path, force: bool,
                      advice: str = "choose another path or pass force=True",
                      label: str = "the destination", example: str = "model") -> None:
    """Refuse, before any work, a destination :func:`save` must not replace or cannot write.

    Only a folder :func:`save` wrote (``plan.json`` + ``model.safetensors``) is ever replaced,
    and only with ``force``: a plain file or a symbolic link at ``path`` is the user's (a
    weights file, say) and is never turned into a folder. The nearest existing folder above
    ``path`` must be a writable folder, so the save cannot fail after the work.

    Args:
        path: the folder :func:`save` would write.
        force: whether replacing a saved model is allowed.
        advice: what the message tells the user to do about an existing ``path``.
        label: what the message calls ``path`` when it is empty (``--out`` on the CLI).
        example: a folder name the message suggests instead of an empty one.

    Raises:
        NeuroplastError: if ``path`` exists and ``force`` is False; if it is a file, a symbolic
            link or a folder holding anything but a saved model (never replaced, even with
            ``force``); if a parent of ``path`` is a file or the folder it would go in is not
            writable.
    """
    check_not_empty(path, label, f"a folder name such as {example}")
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not force:
            raise NeuroplastError(f"{path} already exists; {advice}")
        if path.is_symlink() or not path.is_dir():
            kind = "a symbolic link" if path.is_symlink() else "a file"
            raise NeuroplastError(
                f"{path} is {kind}; neuroplast replaces only a folder it saved "
                "(plan.json + model.safetensors), even with --force/force=True; choose "
                "another path"
            )
        others = sorted(p.name for p in path.iterdir() if p.name not in SAVED_FILES)
        if others:
            raise NeuroplastError(
                f"{path} is a folder holding {', '.join(others[:3])}"
                f"{' ...' if len(others) > 3 else ''}; neuroplast replaces only a folder it "
                "saved (plan.json + model.safetensors); choose another path"
            )
    check_writable_directory(path.absolute().parent, str(path))


def _json_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    try:  # allow_nan=False: NaN and infinities are not JSON (other readers refuse them)
        return json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise NeuroplastError(
            f"metadata must be JSON (dicts, lists, str, finite numbers, bool, None; NaN and "
            f"infinities are not JSON: store them as None or a string): {exc}"
        ) from None


def _storage_key(tensor: torch.Tensor) -> tuple[Any, ...]:
    return (tensor.device, tensor.untyped_storage().data_ptr())


def weights_of(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The state dict as CPU tensors safetensors can store, and the tied names.

    Returns:
        (tensors by name, {tied name: the name it is stored under}). A tensor sharing
        storage with another as the very same view is stored once (tied weights); other
        overlapping views are stored as copies.

    Raises:
        NeuroplastError: for a state-dict entry that is not a tensor (``get_extra_state``).
    """
    state = model.state_dict()
    groups: dict[tuple[Any, ...], list[str]] = {}
    for name, tensor in state.items():
        if not torch.is_tensor(tensor):
            raise NeuroplastError(
                f"state-dict entry {name!r} is a {type(tensor).__name__}, not a tensor; "
                "safetensors stores tensors only"
            )
        if tensor.numel() > 0:
            groups.setdefault(_storage_key(tensor), []).append(name)
    tied: dict[str, str] = {}
    copied: set[str] = set()  # views of a storage another stored tensor uses
    for names in groups.values():
        first = state[names[0]]
        for name in names[1:]:
            t = state[name]
            if (t.storage_offset(), t.shape, t.stride(), t.dtype) == \
                    (first.storage_offset(), first.shape, first.stride(), first.dtype):
                tied[name] = names[0]
            else:
                copied.add(name)
    tensors = {}
    for name, tensor in state.items():
        if name in tied:
            continue
        tensor = tensor.to("cpu").contiguous()
        tensors[name] = tensor.clone() if name in copied else tensor
    return tensors, tied


def save(model: nn.Module, path: str | Path, *, force: bool = False,
         metadata: dict[str, Any] | None = None) -> Path:
    """Save ``model`` as a folder ``path`` with ``plan.json`` and ``model.safetensors``.

    Args:
        model: any ``nn.Module``, pruned and grown with neuroplast (or not at all); a
            ``torch.compile``d one, or one holding compiled submodules, is saved under its
            uncompiled names (:mod:`neuroplast.compiled`).
        path: the folder to create.
        force: replace an existing folder holding a saved model (nothing else).
        metadata: JSON data stored in the plan (what was done, metrics, ...).

    Returns:
        ``path``.

    Raises:
        NeuroplastError: if ``path`` exists (without ``force``), is a file, a link or a folder
            of other files, cannot be written (:func:`check_destination`),
            if ``metadata`` is not JSON, or if the model's record cannot be named (a module
            changed by neuroplast was replaced afterwards).
    """
    path = Path(path)
    check_destination(path, force)
    with compiled_parts_unwrapped(model) as inner:  # the uncompiled architecture's names
        plan = plan_of(inner)
        tensors, tied = weights_of(inner)
    plan["metadata"] = _json_metadata(metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = _new_folder(path.parent, f".{path.name}.", ".tmp")
    try:
        (work / PLAN_FILE).write_text(plan_text(plan), encoding="utf-8")
        save_file(tensors, str(work / WEIGHTS_FILE), metadata={"format": "pt", **tied})
        # safetensors may create its file private; give it the plan's (umask) permissions
        os.chmod(work / WEIGHTS_FILE, (work / PLAN_FILE).stat().st_mode & 0o777)
        _move_into_place(work, path, force)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return path


def _new_folder(parent: Path, prefix: str, suffix: str) -> Path:
    """A new empty folder in ``parent`` with the user's usual permissions (``mkdtemp`` makes
    it private, and the folder it becomes is the user's saved model)."""
    while True:
        folder = parent / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def plan_text(plan: dict[str, Any]) -> str:
    """``plan.json``'s text: one line per site, so that long index lists stay readable."""
    sites = ",\n".join("  " + json.dumps(site) for site in plan["sites"])
    head = {k: v for k, v in plan.items() if k not in ("sites", "metadata")}
    lines = ["{" + json.dumps(head)[1:-1] + ",",
             ' "sites": [' + ("\n" + sites + "\n ]" if sites else "]") + ",",
             ' "metadata": ' + json.dumps(plan.get("metadata", {}), indent=1).replace(
                 "\n", "\n ") + "}"]
    return "\n".join(lines) + "\n"


def _move_into_place(work: Path, path: Path, force: bool) -> None:
    """Rename ``work`` to ``path``; an old ``path`` (allowed by ``force``) is moved aside
    first and removed only once the new folder is in place."""
    if not path.exists() and not path.is_symlink():
        os.replace(work, path)
        return
    check_destination(path, force)  # checked again: it may have changed meanwhile
    old = _new_folder(path.parent, f".{path.name}.", ".old")
    aside = old / "previous"
    os.replace(path, aside)
    try:
        os.replace(work, path)
    except BaseException:
        os.replace(aside, path)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


# -- load ----------------------------------------------------------------------------------------


def _folder(path: str | Path) -> Path:
    path = Path(path)
    if path.is_file():
        raise NeuroplastError(
            f"{path} is a file; neuroplast.load reads a folder written by neuroplast.save "
            "(plan.json + model.safetensors); a model file of `neuroplast train` loads with "
            "neuroplast.models.load_model"
        )
    if not path.is_dir():
        raise FileNotFoundError(f"no saved model at {path} (expected a folder written by "
                                "neuroplast.save)")
    for name in (PLAN_FILE, WEIGHTS_FILE):
        if not (path / name).is_file():
            raise NeuroplastError(
                f"{path} has no {name}; a saved model is a folder with {PLAN_FILE} and "
                f"{WEIGHTS_FILE}, written by neuroplast.save"
            )
    return path


def read_plan(path: str | Path) -> dict[str, Any]:
    """The checked plan (with its ``metadata``) of the saved model in folder ``path``.

    Raises:
        NeuroplastError: if the folder or its plan is missing, not JSON, or not a version-1
            neuroplast plan.
    """
    source = _folder(path) / PLAN_FILE
    try:
        plan = json.loads(source.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NeuroplastError(f"{source} is not JSON ({exc.__class__.__name__}); a saved "
                              "model's plan is written by neuroplast.save") from None
    check_header(plan, str(source))
    return plan


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file; anything else is refused, never unpickled.

    Raises:
        NeuroplastError: if ``path`` is not a safetensors file (a pickle, a damaged file).
    """
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise NeuroplastError(
            f"{path} is not a safetensors file ({reason}); neuroplast reads weights only "
            "from safetensors (never pickle)"
        ) from None
    return tensors, metadata


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ")"


def _check_fit(model_state: dict[str, Any], tensors: dict[str, torch.Tensor],
               source: Path, built: str) -> None:
    missing = [n for n in model_state if n not in tensors]
    unexpected = [n for n in tensors if n not in model_state]
    wrong = [n for n in model_state if n in tensors and tuple(tensors[n].shape)
             != tuple(model_state[n].shape)]
    if not (missing or unexpected or wrong):
        return
    problems = []
    if wrong:
        n = wrong[0]
        problems.append(f"{n!r} is {_shape(tensors[n])} in the file but "
                        f"{_shape(model_state[n])} in the model"
                        + (f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""))
    if missing:
        problems.append(f"the model has {', '.join(map(repr, missing[:3]))}"
                        f"{' ...' if len(missing) > 3 else ''} which the file lacks")
    if unexpected:
        problems.append(f"the file has {', '.join(map(repr, unexpected[:3]))}"
                        f"{' ...' if len(unexpected) > 3 else ''} which the model lacks")
    raise NeuroplastError(
        f"{source} does not fit {built}: {'; '.join(problems)}; is the factory the "
        "constructor the weights were saved from?"
    )


def _match_dtypes(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Give every parameter and buffer the dtype it was saved with (a float64 model built
    float32 by its factory comes back float64), so the loaded model computes as the saved."""
    for name, saved in tensors.items():
        owner_name, _, attribute = name.rpartition(".")
        owner = model.get_submodule(owner_name)
        current = getattr(owner, attribute)
        if not torch.is_tensor(current) or current.dtype == saved.dtype:
            continue
        if current.is_floating_point() and not saved.is_floating_point():
            raise NeuroplastError(
                f"the weights file holds {name} as {saved.dtype}, but the model's {name} is "
                f"{current.dtype}: weights must be floating point; save them as floats")
        if isinstance(current, nn.Parameter):
            current.data = current.data.to(saved.dtype)
        else:
            setattr(owner, attribute, current.to(saved.dtype))


def load_weights(model: nn.Module, path: str | Path,
                 weights: tuple[dict[str, torch.Tensor], dict[str, str]] | None = None, *,
                 built: str = "the model") -> nn.Module:
    """Load a safetensors state dict into ``model`` strictly, with the saved dtypes.

    Args:
        model: the model, already of the saved shapes.
        path: the safetensors file (named in messages).
        weights: what :func:`read_weights` read from ``path`` already, if it did.
        built: how messages name ``model``.

    Raises:
        NeuroplastError: if the file is not safetensors, or its names or shapes do not match
            the model's (one line naming the first differences).
    """
    tensors, metadata = read_weights(path) if weights is None else weights
    tensors = dict(tensors)
    model_state = model.state_dict()
    for dropped, kept in metadata.items():  # tied tensors stored once
        if dropped in model_state and dropped not in tensors and kept in tensors:
            tensors[dropped] = tensors[kept]
    _check_fit(model_state, tensors, Path(path), built)
    _match_dtypes(model, tensors)
    model.load_state_dict(tensors, strict=True)
    return model


def build(factory: Factory) -> nn.Module:
    """``factory()``, checked to be an ``nn.Module``."""
    if isinstance(factory, nn.Module):
        raise TypeError(
            f"factory must build the unpruned model, got a {type(factory).__name__} instance "
            f"(a module is callable, but calling it runs its forward); pass the class or a "
            f"function, e.g. load(path, {type(factory).__name__}) or "
            f"load(path, lambda: {type(factory).__name__}(...))"
        )
    if not callable(factory):
        raise TypeError(f"factory must be a callable returning the unpruned model, got "
                        f"{type(factory).__name__}")
    model = factory()
    if not isinstance(model, nn.Module):
        raise NeuroplastError(
            f"the factory returned a {type(model).__name__}, not a torch.nn.Module; it must "
            "build the unpruned model"
        )
    return model


def load(path: str | Path, factory: Factory) -> nn.Module:
    """The model saved by :func:`save` in folder ``path``, rebuilt through ``factory``.

    Args:
        path: the saved folder.
        factory: a callable with no arguments that builds an unpruned instance of the saved
            architecture (e.g. ``lambda: MyNet(depth=4)``); its initial weights are replaced.
            It may return the model compiled (``torch.compile``): the module it wraps is
            reshaped and loaded, and the compiled model returned.

    Returns:
        The model, with the saved sites' widths, biases and weights (and dtypes), in the mode
        (train/eval) and on the device the factory chose.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        NeuroplastError: one line, for a folder that is not a saved model, a plan of another
            format or version, a weights file that is not safetensors, module names the
            factory's model does not have, or shapes that disagree.
    """
    folder = _folder(path)
    plan = read_plan(folder)
    weights = read_weights(folder / WEIGHTS_FILE)  # a bad file fails before the model is built
    model = build(factory)
    with compiled_parts_unwrapped(model) as inner:
        apply_plan(inner, plan, str(folder / PLAN_FILE))
        load_weights(inner, folder / WEIGHTS_FILE, weights,
                     built="the model the factory built and the plan reshaped")
    return model


__all__ = ["PLAN_FILE", "WEIGHTS_FILE", "Factory", "build", "check_destination",
           "is_saved_model", "load", "load_weights", "read_plan", "read_weights", "save",
           "uncompiled"]
