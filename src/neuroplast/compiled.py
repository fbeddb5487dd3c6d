"""Models with ``torch.compile``d parts, seen through the modules they wrap.

``torch.compile(module)`` returns a wrapper (``OptimizedModule``) that holds the module as
``_orig_mod``: a compiled model's names start with ``_orig_mod.``, and a model that holds a
compiled submodule (``self.block = torch.compile(Block())``) names everything inside it
``block._orig_mod.…``. neuroplast reads such models through the modules they wrap:

* :func:`uncompiled` — the module a compiled root wraps (saving, loading and discovery name
  modules from it, so a model saved compiled loads into a factory that does not compile);
* :func:`unwrap_compiled_parts` / :func:`rewrap` — every compiled *descendant* replaced, in
  its parent, by the module it wraps, and put back after. Measurements do this
  (:func:`neuroplast.modes.enter_evaluation`): their hooks would run inside the compiled
  region, where Dynamo refuses them, and the names they give would hold ``._orig_mod``.
  Saving and loading do it too, so a plan names ``block.fc1``, not ``block._orig_mod.fc1``.

Surgery changes the wrapped modules themselves, so the compiled wrappers see the new shapes
(Dynamo recompiles at the next call).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

Swap = tuple[nn.Module, str, nn.Module]
"""(parent, child name, the compiled wrapper that stood there)."""


def is_compiled(module: nn.Module) -> bool:
    """Whether ``module`` is a ``torch.compile`` wrapper (Dynamo's ``OptimizedModule``)."""
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")  # not imported: none compiled
    return eval_frame is not None and isinstance(module, eval_frame.OptimizedModule)


def uncompiled(model: nn.Module) -> nn.Module:
    """The module ``torch.compile`` wrapped (its ``_orig_mod``, however deep), or ``model``."""
    while is_compiled(model):
        model = model._orig_mod
    return model


def unwrap_compiled_parts(model: nn.Module) -> list[Swap]:
    """Replace every compiled descendant of ``model`` (not ``model`` itself) in its parent by
    the module it wraps; returns what :func:`rewrap` puts back, innermost last."""
    swaps: list[Swap] = []
    pending = [model]
    while pending:
        parent = pending.pop()
        for name, child in list(parent._modules.items()):
            if child is None:
                continue
            if is_compiled(child):
                swaps.append((parent, name, child))
                child = uncompiled(child)
                parent._modules[name] = child
            pending.append(child)
    return swaps


def rewrap(swaps: list[Swap]) -> None:
    """Put back the compiled wrappers :func:`unwrap_compiled_parts` took out."""
    for parent, name, wrapper in reversed(swaps):
        parent._modules[name] = wrapper


@contextmanager
def compiled_parts_unwrapped(model: nn.Module) -> Iterator[nn.Module]:
    """``uncompiled(model)`` with every compiled descendant unwrapped while the block runs."""
    inner = uncompiled(model)
    swaps = unwrap_compiled_parts(inner)
    try:
        yield inner
    finally:
        rewrap(swaps)
