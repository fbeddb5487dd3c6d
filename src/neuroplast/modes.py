"""Switching a user's model to evaluation mode for a measurement, and back, module by module;
and giving back the buffers the measurement's forwards changed.

``model.train(was_training)`` after ``model.eval()`` sets *every* submodule to the root's flag:
a BatchNorm or Dropout the user froze with ``.eval()`` inside a model in training mode would
come back in training mode (a frozen BatchNorm would start updating its running statistics at
the next step). These functions save each module's own flag and restore exactly it.

Evaluation mode stops BatchNorm's running statistics, but not a buffer a forward updates in
any mode (an exponential moving average, a call counter, a cache). A measurement runs the
user's forward many times (discovery ~9 passes, statistics one per batch), so
:func:`enter_evaluation` also copies every buffer, and :func:`restore_modes` puts back a
buffer the forwards replaced and writes the copy into one they changed (its version counter
moved): a measurement leaves the model's state as it found it, and a buffer it did not touch
is not written (a graph still alive from the user's forward would refuse that). The copies
cost one pass over the buffers, less than one forward through the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.parameter import UninitializedBuffer

from neuroplast.compiled import Unwrapped, rewrap, unwrap_compiled_parts


@dataclass(frozen=True)
class SavedBuffer:
    """One buffer as a measurement found it: its module and name, the tensor, its version
    counter (in-place changes raise it) and a copy of its values."""

    module: nn.Module
    name: str
    tensor: torch.Tensor
    version: int | None
    values: torch.Tensor

    @classmethod
    def of(cls, module: nn.Module, name: str, tensor: torch.Tensor) -> SavedBuffer:
        """The buffer as it is now (an inference tensor has no version counter: None)."""
        version = None if tensor.is_inference() else tensor._version
        return cls(module, name, tensor, version, tensor.clone())

    def changed(self) -> bool:
        """Whether the tensor's values may differ from the copy: its version counter moved
        (an inference tensor's values are compared)."""
        if self.version is None:
            return self.tensor.shape != self.values.shape or not torch.equal(self.tensor,
                                                                             self.values)
        return self.tensor._version != self.version

    def restore(self) -> None:
        """Put the tensor back if the forward replaced it, and its values if it changed them;
        an untouched buffer is not written (a graph still alive, or an inference tensor,
        would refuse the write)."""
        if self.module._buffers.get(self.name) is not self.tensor:
            self.module._buffers[self.name] = self.tensor
        if not self.changed():
            return
        with torch.inference_mode(self.tensor.is_inference()), torch.no_grad():
            if self.tensor.shape == self.values.shape:
                self.tensor.copy_(self.values)  # in place: the user's references see it
            else:  # resized in place
                self.tensor.set_(self.values)


@dataclass(frozen=True)
class Modes:
    """What :func:`restore_modes` gives back: each module's own ``training`` flag, each
    buffer, and the compiled submodules unwrapped for the measurement."""

    flags: list[tuple[nn.Module, bool]]
    buffers: list[SavedBuffer]
    compiled: Unwrapped = field(default_factory=Unwrapped)


def enter_evaluation(model: nn.Module) -> Modes:
    """Put ``model`` (every submodule) in evaluation mode; returns what :func:`restore_modes`
    needs to give each module its own flag and every buffer its values back (a lazy module's
    buffer not yet materialised has none to save).

    A ``torch.compile``d submodule is replaced by the module it wraps until
    :func:`restore_modes` (:mod:`neuroplast.compiled`): a measurement's hooks cannot run inside
    a compiled region, and its names would hold ``._orig_mod``."""
    compiled = unwrap_compiled_parts(model)
    try:
        flags = [(module, module.training) for module in model.modules()]
        with torch.no_grad():
            buffers = [SavedBuffer.of(module, name, tensor)
                       for module in model.modules()
                       for name, tensor in module._buffers.items()
                       if tensor is not None and not isinstance(tensor, UninitializedBuffer)]
        model.eval()
    except BaseException:
        rewrap(compiled)
        raise
    return Modes(flags, buffers, compiled)


def restore_modes(modes: Modes) -> None:
    """Give every module saved by :func:`enter_evaluation` its own ``training`` flag, and every
    buffer the measurement's forwards replaced or changed its tensor and values, back."""
    try:
        for module, training in modes.flags:
            module.training = training
        for saved in modes.buffers:
            saved.restore()
    finally:
        rewrap(modes.compiled)
