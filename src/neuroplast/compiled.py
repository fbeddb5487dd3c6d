"""Models with ``torch.compile``d parts, seen through the modules they wrap.

``torch.compile(module)`` returns a wrapper (``OptimizedModule``) that holds the module as
``_orig_mod``: a compiled model's names start with ``_orig_mod.``, and a model that holds a
compiled submodule (``self.block = torch.compile(Block())``) names everything inside it
``block._orig_mod.…``. ``module.compile()`` compiles in place instead: the module keeps its
class and names and calls a compiled function (``_compiled_call_impl``). neuroplast reads such
models through the modules they wrap:

* :func:`uncompiled` — the module a compiled root wraps (saving, loading and discovery name
  modules from it, so a model saved compiled loads into a factory that does not compile);
* :func:`unwrap_compiled_parts` / :func:`rewrap` — every compiled *descendant* replaced, in
  its parent, by the module it wraps, and all compiled code run eagerly
  (``torch.compiler.set_stance("force_eager")``: a compiled root, a module compiled in place),
  until they are put back. Measurements do this (:func:`neuroplast.modes.enter_evaluation`):
  their hooks would run inside the compiled region, where Dynamo refuses them or recompiles at
  every call, and the names they give would hold ``._orig_mod``. Saving and loading do it too,
  so a plan names ``block.fc1``, not ``block._orig_mod.fc1``.

Surgery changes the wrapped modules themselves, so the compiled wrappers see the new shapes
(Dynamo recompiles at the next call).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class Unwrapped:
    """What :func:`rewrap` puts back.

    Attributes:
        wrappers: (parent, child name, the compiled wrapper that stood there), outermost first.
        eager: the ``torch.compiler.set_stance("force_eager")`` in force, to leave (None when
            Dynamo was never imported: nothing is compiled).
    """

    wrappers: list[tuple[nn.Module, str, nn.Module]] = field(default_factory=list)
    eager: Any = None


def is_compiled(module: nn.Module) -> bool:
    """Whether ``module`` is a ``torch.compile`` wrapper (Dynamo's ``OptimizedModule``)."""
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")  # not imported: none compiled
    return eval_frame is not None and isinstance(module, eval_frame.OptimizedModule)


def uncompiled(model: nn.Module) -> nn.Module:
    """The module ``torch.compile`` wrapped (its ``_orig_mod``, however deep), or ``model``."""
    while is_compiled(model):
        model = model._orig_mod
    return model


def unwrap_compiled_parts(model: nn.Module) -> Unwrapped:
    """Replace every compiled descendant of ``model`` (not ``model`` itself) in its parent by
    the module it wraps, and run every compiled code eagerly (``torch.compiler.set_stance(
    "force_eager")``: a compiled root, a module compiled in place) until :func:`rewrap`;
    returns what :func:`rewrap` puts back."""
    unwrapped = Unwrapped()
    pending, seen = [model], set()
    try:
        if "torch._dynamo" in sys.modules and hasattr(torch.compiler, "set_stance"):
            # else nothing was ever compiled (or torch < 2.6: compiled code runs compiled)
            unwrapped.eager = torch.compiler.set_stance("force_eager")
        while pending:
            parent = pending.pop()
            if id(parent) in seen:  # a module held in two places is walked once
                continue
            seen.add(id(parent))
            for name, child in list(parent._modules.items()):
                if child is None:
                    continue
                if is_compiled(child):
                    unwrapped.wrappers.append((parent, name, child))
                    child = uncompiled(child)
                    parent._modules[name] = child
                pending.append(child)
    except BaseException:
        rewrap(unwrapped)
        raise
    return unwrapped


def rewrap(unwrapped: Unwrapped) -> None:
    """Put back what :func:`unwrap_compiled_parts` took out (a slot something else was put
    into meanwhile keeps it), and give the compiler back its stance."""
    for parent, name, wrapper in reversed(unwrapped.wrappers):
        if parent._modules.get(name) is uncompiled(wrapper):
            parent._modules[name] = wrapper
    if unwrapped.eager is not None:
        unwrapped.eager.__exit__(None, None, None)
        unwrapped.eager = None


@contextmanager
def compiled_parts_unwrapped(model: nn.Module) -> Iterator[nn.Module]:
    """``uncompiled(model)`` with every compiled part unwrapped while the block runs."""
    inner = uncompiled(model)
    unwrapped = unwrap_compiled_parts(inner)
    try:
        yield inner
    finally:
        rewrap(unwrapped)
