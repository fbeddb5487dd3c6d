"""Traced forward passes: every module call in execution order, what it read and wrote, and
overrides that replace a module's output or its first input (site discovery's experiments).

Each call is numbered when it starts (a forward pre-hook), so a container comes before the
modules it runs. What a call read and wrote is kept as a *fingerprint* (a few float64 sums
per tensor), enough to tell whether it changed between two runs; the values themselves are
copied only for the modules asked for (in-place modules such as ``ReLU(inplace=True)`` would
otherwise overwrite them). Hooks are removed in ``finally``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Replace = Callable[[torch.Tensor], torch.Tensor]
"""Maps the tensor a module produced (or is about to read) to the one used instead."""


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor inside ``value`` (nested tuples, lists and mappings), in order."""
    if torch.is_tensor(value):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, tuple | list):
        return [t for item in value for t in tensors_in(item)]
    return []


def fingerprint(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """(k, 4) float64 on the CPU: Σx, Σ|x|, Σx², Σ r·x (r a 0..1 ramp) of each tensor."""
    rows = []
    for t in tensors:
        x = t.detach().reshape(-1).to(torch.float64)
        ramp = torch.linspace(0.0, 1.0, x.numel(), dtype=torch.float64, device=x.device)
        rows.append(torch.stack([x.sum(), x.abs().sum(), (x * x).sum(), (x * ramp).sum()]))
    return torch.stack(rows).cpu() if rows else torch.zeros(0, 4, dtype=torch.float64)


def fingerprints_differ(a: torch.Tensor, b: torch.Tensor, rtol: float) -> bool:
    """Whether two fingerprints describe different tensors, up to ``rtol`` of their scale."""
    if a.shape != b.shape:
        return True
    if a.numel() == 0:
        return False
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return not torch.equal(a.nan_to_num(), b.nan_to_num())
    linear = torch.maximum(a[:, 1], b[:, 1]) * rtol + 1e-300  # scale of Σx, Σ|x|, Σr·x
    square = torch.maximum(a[:, 2], b[:, 2]) * rtol + 1e-300
    d = (a - b).abs()
    return bool((d[:, [0, 1, 3]] > linear.unsqueeze(1)).any() or (d[:, 2] > square).any())


@dataclass
class Call:
    """One call of one module during a traced forward.

    Attributes:
        index: its place in the execution order (numbered when it starts).
        name: the module's qualified name in the model.
        module: the module.
        input_print: fingerprint of every tensor it read (positional and keyword).
        output_print: fingerprint of every tensor it returned.
        input: a copy of the first tensor it read, when recorded.
        output: a copy of what it returned, when recorded and a tensor.
    """

    index: int
    name: str
    module: nn.Module
    input_print: torch.Tensor
    output_print: torch.Tensor | None = None
    input: torch.Tensor | None = None
    output: torch.Tensor | None = None


@dataclass
class Trace:
    """The calls of one forward pass, in order, and the fingerprint of the model's output
    (None when the pass was stopped early)."""

    calls: list[Call]
    output_print: torch.Tensor | None

    def calls_of(self, module: nn.Module) -> list[Call]:
        return [c for c in self.calls if c.module is module]


class Tracer:
    """Runs ``forward(model, batch)`` with hooks on every submodule.

    Args:
        model: the network (its mode and gradient setting are the caller's business).
        forward: how to run it on one batch.
    """

    def __init__(self, model: nn.Module, forward: Callable[[nn.Module, Any], Any]) -> None:
        self.model = model
        self.forward = forward
        self.names = {m: name for name, m in model.named_modules() if m is not model}

    def run(self, batch: Any, *, outputs: Mapping[nn.Module, Replace] | None = None,
            inputs: Mapping[nn.Module, Replace] | None = None,
            record: Iterable[nn.Module] | None = (),
            stop: Callable[[Call], bool] | None = None) -> Trace:
        """One forward pass.

        Args:
            batch: the model's input (already on its device and dtype).
            outputs: module → replacement of its output (applied to every call).
            inputs: module → replacement of its first positional input.
            record: modules whose first input and output are copied; None copies all.
            stop: called with each call as it starts (after its input is recorded); True
                ends the pass there, before the module runs.
        """
        outputs, inputs = outputs or {}, inputs or {}
        recorded = None if record is None else set(map(id, record))
        calls: list[Call] = []
        running: dict[int, list[Call]] = {}

        def keeps(module: nn.Module) -> bool:
            return recorded is None or id(module) in recorded

        def pre_hook(module, args, kwargs):
            changed = module in inputs
            if changed:
                if not args:
                    raise RuntimeError(f"{self.names[module]} was called without a positional "
                                       "input to replace")
                args = (inputs[module](args[0]), *args[1:])
            found = tensors_in((args, kwargs))
            call = Call(len(calls), self.names[module], module, fingerprint(found))
            if found and keeps(module):
                call.input = found[0].detach().clone()
            calls.append(call)
            running.setdefault(id(module), []).append(call)
            if stop is not None and stop(call):
                raise _Stop
            return (args, kwargs) if changed else None

        def hook(module, _args, _kwargs, output):
            call = running[id(module)].pop()
            if module in outputs:
                output = outputs[module](output)
            call.output_print = fingerprint(tensors_in(output))
            if torch.is_tensor(output) and keeps(module):
                call.output = output.detach().clone()
            return output if module in outputs else None

        handles = []
        try:
            for module in self.names:
                handles.append(module.register_forward_pre_hook(pre_hook, with_kwargs=True))
                handles.append(module.register_forward_hook(hook, with_kwargs=True))
            result = self.forward(self.model, batch)
        except _Stop:
            return Trace(calls, None)
        finally:
            for handle in handles:
                handle.remove()
        return Trace(calls, fingerprint(tensors_in(result)))


class _Stop(BaseException):
    """Ends a pass early (a BaseException, so that a model's ``except Exception`` lets it
    through)."""

