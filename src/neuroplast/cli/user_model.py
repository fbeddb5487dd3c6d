"""The user's own model on the command line: its constructor, its weights, its data, its sites.

Shared by ``neuroplast sites``, ``prune-model``, ``grow-model`` and ``inspect-model``:

* ``--factory MODULE:FUNCTION`` imports MODULE (a dotted name found from the current folder
  or ``PYTHONPATH``, or a ``path/to/file.py``) and calls FUNCTION() for the unpruned model;
* ``--weights`` (optional) is a safetensors file, a state-dict file read with
  ``torch.load(weights_only=True)`` (``.pt``, ``.pth``, ``.bin``; a dict of tensors, or one
  under ``state_dict`` / ``model``), or a folder saved by neuroplast (plan + weights);
* ``--data`` is calibration data (:mod:`neuroplast.data.calibration`).

Every check that can fail on the user's input runs before any long work, and each failure is
one line: a factory that does not import or is not callable, weights that do not fit, data the
model cannot run on, an unknown site.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroplast.api import find_sites
from neuroplast.cli.common import positive_int
from neuroplast.data.calibration import Calibration, read_calibration
from neuroplast.errors import NeuroplastError
from neuroplast.files import load_without_pickle
from neuroplast.saving import Factory, build, is_saved_model, load, load_weights

DEFAULT_BATCH = 256
"""Examples per forward pass over the calibration data."""


def add_model_arguments(parser: argparse.ArgumentParser, *, batches: bool = True) -> None:
    """``--factory``, ``--weights``, ``--data``, ``--limit``, and ``--batch-size`` for a command
    that passes over the data (``batches``; ``sites`` runs two examples)."""
    parser.add_argument("--factory", required=True, metavar="MODULE:FUNCTION",
                        help="builds the unpruned model: MODULE is imported (a dotted name "
                             "from the current folder or PYTHONPATH, or path/to/file.py) and "
                             "FUNCTION() called")
    parser.add_argument("--weights", metavar="PATH", default=None,
                        help="the model's weights: a .safetensors file, a state dict "
                             "(.pt/.pth/.bin, read with torch.load(weights_only=True)) or a "
                             "folder saved by neuroplast (default: the factory's own)")
    parser.add_argument("--data", required=True, metavar="PATH",
                        help="calibration data: .npz/.npy/.pt/.safetensors with inputs 'x' "
                             "(labels 'y' or 'labels'), or a folder of images")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="use only the first N examples of --data")
    if batches:
        parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH,
                            help=f"examples per forward pass (default {DEFAULT_BATCH})")


# -- the factory ---------------------------------------------------------------------------------


@contextmanager
def _current_folder_importable(file_folder: Path | None = None) -> Iterator[None]:
    """Let ``import`` find modules of the current folder (as ``python -m`` does) and, for a
    factory given as a file, of that file's folder (as ``python path/to/file.py`` does), for
    the duration of the block only."""
    folders = ([] if file_folder is None else [str(file_folder.resolve())]) + [str(Path.cwd())]
    added = [f for f in folders if f not in sys.path and not (f == str(Path.cwd())
                                                             and "" in sys.path)]
    for folder in reversed(added):  # the file's folder first, as for `python path/file.py`
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        for folder in added:
            if folder in sys.path:
                sys.path.remove(folder)


def _factory_file(module: str) -> Path | None:
    """The file a factory's module part names (``path/to/nets.py``), or None for a module."""
    return Path(module) if module.endswith(".py") or "/" in module or "\\" in module else None


def _import(module: str, spec: str) -> Any:
    if _factory_file(module) is not None:
        path = Path(module)
        if not path.is_file():
            raise NeuroplastError(f"--factory {spec}: no file {module}")
        name = f"_neuroplast_factory_{path.stem}"
        loader = importlib.util.spec_from_file_location(name, path)
        imported = importlib.util.module_from_spec(loader)
        sys.modules[name] = imported  # dataclasses and pickling look their module up here
        runner = loader.loader.exec_module
        folder: Path | None = path.parent
    else:
        imported, runner, folder = None, None, None
    try:
        with _current_folder_importable(folder):
            if runner is not None:
                runner(imported)
                return imported
            return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise NeuroplastError(
                f"--factory {spec}: cannot import {module} (no module {exc.name!r}); run from "
                "the folder that holds it, add that folder to PYTHONPATH, or give "
                "path/to/file.py:FUNCTION"
            ) from None
        raise NeuroplastError(f"--factory {spec}: importing {module} failed: "
                              f"ModuleNotFoundError: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's module may raise anything
        message = " ".join(str(exc).split())[:200]
        raise NeuroplastError(f"--factory {spec}: importing {module} failed: "
                              f"{exc.__class__.__name__}: {message}") from None


def load_factory(spec: str) -> Factory:
    """The callable ``MODULE:FUNCTION`` names (not called yet).

    Raises:
        NeuroplastError: for a malformed spec, a module that cannot be imported, a missing
            attribute, or one that is not callable.
    """
    module, sep, name = spec.rpartition(":")
    if not sep or not module or not name:
        raise NeuroplastError(f"--factory {spec}: expected MODULE:FUNCTION, e.g. "
                              "mymodels:build_net or path/to/nets.py:build_net")
    imported = _import(module, spec)
    target: Any = imported
    for part in name.split("."):
        if not hasattr(target, part):
            raise NeuroplastError(f"--factory {spec}: {module} has no attribute {name!r}")
        target = getattr(target, part)
    if not callable(target):
        raise NeuroplastError(f"--factory {spec}: {module}.{name} is a "
                              f"{type(target).__name__}, not callable; name a function or "
                              "class that builds the model")
    return target


def call_factory(factory: Factory, spec: str) -> nn.Module:
    """``factory()``, with the user's exception (or a non-module result) as one line; a
    factory file's folder is importable while it runs (a lazy ``import`` inside it)."""
    file = _factory_file(spec.rpartition(":")[0])
    try:
        with _current_folder_importable(None if file is None else file.parent):
            return build(factory)
    except NeuroplastError as exc:
        raise NeuroplastError(f"--factory {spec}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's constructor may raise anything
        message = " ".join(str(exc).split())[:200]
        raise NeuroplastError(f"--factory {spec}: calling it failed: "
                              f"{exc.__class__.__name__}: {message}") from None


# -- weights -------------------------------------------------------------------------------------


def _state_dict_from_torch(path: Path) -> dict[str, torch.Tensor]:
    value = load_without_pickle(path, f"--weights {path}",
                                "save model.state_dict() with safetensors or torch.save")
    for key in ("state_dict", "model"):
        if isinstance(value, dict) and isinstance(value.get(key), dict):
            value = value[key]
            break
    if not isinstance(value, dict) or not value or not all(
            isinstance(k, str) and torch.is_tensor(v) for k, v in value.items()):
        raise NeuroplastError(
            f"--weights {path} does not hold a state dict (a dict of tensors, or one under "
            "'state_dict' or 'model'); save model.state_dict()"
        )
    return value


def _load_torch_weights(model: nn.Module, path: Path, factory: Factory) -> nn.Module:
    return load_weights(model, path, (_state_dict_from_torch(path), {}),
                        built="the model the factory built")


def _load_safetensors(model: nn.Module, path: Path, factory: Factory) -> nn.Module:
    return load_weights(model, path, built="the model the factory built")


WEIGHT_READERS: dict[str, Callable[[nn.Module, Path, Factory], nn.Module]] = {
    ".safetensors": _load_safetensors,
    ".pt": _load_torch_weights,
    ".pth": _load_torch_weights,
    ".bin": _load_torch_weights,
}
"""Weights file suffix → how it goes into the factory's model; a folder is a saved model."""


def load_user_model(args: argparse.Namespace) -> nn.Module:
    """The model ``--factory`` builds with ``--weights`` loaded, in eval mode.

    Raises:
        NeuroplastError / FileNotFoundError: one line, for any input that does not fit.
    """
    factory = load_factory(args.factory)
    weights = None if args.weights is None else Path(args.weights)
    if weights is not None and not weights.exists():
        raise FileNotFoundError(f"--weights {weights}: no such file or folder")
    if weights is not None and weights.is_dir():
        if not is_saved_model(weights):
            raise NeuroplastError(f"--weights {weights} is a folder without plan.json; give a "
                                  "folder saved by neuroplast, or a weights file")
        model = load(weights, lambda: call_factory(factory, args.factory))
        return model.eval()
    reader = None if weights is None else WEIGHT_READERS.get(weights.suffix.lower())
    if weights is not None and reader is None:
        raise NeuroplastError(f"--weights {weights}: unknown format {weights.suffix or '(none)'}"
                              f"; give {', '.join(WEIGHT_READERS)} or a folder saved by "
                              "neuroplast")
    model = call_factory(factory, args.factory)
    if reader is not None:
        reader(model, weights, factory)
    return model.eval()


# -- data ----------------------------------------------------------------------------------------


def read_data(args: argparse.Namespace) -> Calibration:
    """``--data``, cut to ``--limit`` examples (its source then says so, so that a message
    about too few examples does not seem to be about the whole file)."""
    data = read_calibration(args.data)
    limited = data.head(args.limit)
    if limited is data:
        return data
    return replace(limited, source=f"{data.source} (its first {limited.n}, --limit)")


@torch.no_grad()
def outputs(model: nn.Module, data: Calibration, batch_size: int) -> torch.Tensor | None:
    """The model's outputs over ``data`` (N, ...), or None when they are not one tensor."""
    x = data.inputs_for(model)
    parts = []
    for start in range(0, data.n, batch_size):
        try:
            out = model(x[start:start + batch_size])
        except Exception as exc:  # noqa: BLE001 - whatever the user's forward raises
            end = min(start + batch_size, data.n)
            message = " ".join(str(exc).split())[:200]
            raise NeuroplastError(
                f"the model fails on --data {data.source}, examples {start}–{end - 1}: "
                f"{exc.__class__.__name__}: {message}; check those examples (e.g. token ids "
                "outside the vocabulary, NaN)") from None
        if not torch.is_tensor(out):
            return None
        parts.append(out)
    return torch.cat(parts)


@torch.no_grad()
def check_data_fits(model: nn.Module, data: Calibration, *, goal: bool = False,
                    labels_used: bool = True) -> None:
    """Run the model on two examples, so that data it cannot read fails before long work.

    Args:
        model: the user's model.
        data: the calibration data (its labels, when it has any, are one class index per
            example).
        goal: whether a goal (``--goal-accuracy``/``--goal-loss``) will be evaluated on the
            labels; it needs (N, classes) logits.
        labels_used: whether the command scores the labels (``prune-model``'s accuracy);
            commands that never read them do not refuse labels beyond the model's outputs.

    Raises:
        NeuroplastError: when the forward pass raises, labels exceed the model's outputs, or
            a goal is asked of a model whose outputs are not (N, classes) logits.
    """
    x = data.inputs_for(model)[:2]
    try:
        out = model(x)
    except Exception as exc:  # noqa: BLE001 - whatever the user's forward raises
        message = " ".join(str(exc).split())[:200]
        advice = "give inputs shaped as the model expects"
        if not data.x.is_floating_point():  # uint8 images are read as integers, as token ids
            advice = (f"the inputs are integers ({data.x.dtype}): store images and features "
                      "as floats (e.g. x.astype('float32') / 255), token ids as integers; "
                      f"or {advice}")
        raise NeuroplastError(
            f"the model cannot run on --data {data.source} (inputs of shape "
            f"{tuple(data.x.shape)}, {data.x.dtype}): {exc.__class__.__name__}: {message}; "
            f"{advice}"
        ) from None
    logits = torch.is_tensor(out) and out.dim() == 2
    if goal and data.y is not None and not logits:
        shape = f"outputs of shape (N, {', '.join(map(str, out.shape[1:]))})" if \
            torch.is_tensor(out) else f"a {type(out).__name__}"
        raise NeuroplastError(
            f"--goal-accuracy/--goal-loss score one label per example against (N, classes) "
            f"logits, but the model returns {shape}; prune by --amount or --cutoff instead"
        )
    if labels_used and data.y is not None and logits and int(data.y.max()) >= out.shape[1]:
        raise NeuroplastError(
            f"--data {data.source}: labels go up to {int(data.y.max())} but the model has "
            f"{out.shape[1]} outputs; give class indices below {out.shape[1]}"
        )


def metrics(model: nn.Module, data: Calibration, batch_size: int) -> dict[str, float]:
    """Accuracy and mean cross-entropy on ``data`` when it has labels and the model returns
    (N, classes) logits; empty otherwise."""
    out = outputs(model, data, batch_size)
    y = data.labels_for(model)
    if y is None or out is None or out.dim() != 2:
        return {}
    loss = torch.nn.functional.cross_entropy(out.double(), y)
    accuracy = (out.argmax(dim=1) == y).double().mean()
    return {"accuracy": float(accuracy), "loss": float(loss)}


# -- sites ---------------------------------------------------------------------------------------


def module_names(model: nn.Module) -> dict[int, str]:
    """``id(module)`` → its qualified name in ``model`` (the first, for shared modules)."""
    names: dict[int, str] = {}
    for name, module in model.named_modules():
        names.setdefault(id(module), name or "<model>")
    return names


def discovery_example(model: nn.Module, data: Calibration) -> torch.Tensor:
    """Two different examples of ``data`` (the first, and the first unlike it): site
    discovery compares the model on two inputs.

    Raises:
        NeuroplastError: when ``data`` holds fewer than two different examples.
    """
    x = data.inputs_for(model)
    different = [j for j in range(1, x.shape[0]) if not torch.equal(x[j], x[0])][:1]
    if not different:
        what = "one example" if x.shape[0] < 2 else f"{x.shape[0]} identical examples"
        raise NeuroplastError(
            f"--data {data.source} holds {what}; finding the model's sites compares it on two "
            "different inputs, so give at least two different examples"
        )
    return x[[0, different[0]]]


def discovered_sites(model: nn.Module, data: Calibration) -> list[Any]:
    """:func:`neuroplast.find_sites` on two different examples (:func:`discovery_example`)."""
    return list(find_sites(model, discovery_example(model, data)))


def find_site(model: nn.Module, data: Calibration, name: str) -> Any:
    """The discovered site called ``name``.

    Raises:
        NeuroplastError: for an unknown name (the message lists the discovered ones).
    """
    sites = discovered_sites(model, data)
    for site in sites:
        if site.name == name:
            return site
    known = ", ".join(s.name for s in sites) or "none"
    raise NeuroplastError(
        f"unknown site {name!r}; the sites of this model are: {known} (see `neuroplast sites "
        "--factory ... --data ...` for the reasons other modules are not offered)"
    )


def parameter_count(model: nn.Module) -> int:
    """Trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
