"""Whether a layer's tensors are its own to resize: no parametrization, no pruning mask.

The surgery (:mod:`neuroplast.surgery`, :mod:`neuroplast.sites.axis`) slices and appends a
layer's parameters in place and writes re-wired weights into them. Two of PyTorch's own
wrappers make the parameter a layer computes with something other than the tensor stored
under its name:

* a **parametrization** (``torch.nn.utils.parametrize``: ``weight_norm``, ``spectral_norm``,
  orthogonal, a user's own) computes ``weight`` from ``parametrizations.weight.original*``; a
  write into the computed weight is lost, and resizing goes through ``right_inverse``
  (a replicated neuron then changed the function by 0.13 in a hostile user's test);
* the older **``torch.nn.utils.weight_norm`` / ``spectral_norm``** do the same with a forward
  pre-hook;
* **``torch.nn.utils.prune``** keeps ``weight_orig`` and a ``weight_mask`` buffer and
  multiplies them in a forward pre-hook; resizing ``weight_orig`` alone left a mask of the
  old shape, and the next forward failed.

Such a layer is refused with what to do (remove the wrapper, or make it permanent, first).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.prune import BasePruningMethod
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm

from neuroplast.errors import NeuroplastError


def wrapper_of(module: nn.Module) -> str | None:
    """Why ``module``'s tensors are not its own to resize (one phrase), or None."""
    if parametrize.is_parametrized(module):
        names = ", ".join(sorted(module.parametrizations.keys()))
        return (f"its {names} is parametrized (torch.nn.utils.parametrize: weight_norm, "
                "spectral_norm, ...); remove the parametrization first "
                "(torch.nn.utils.parametrize.remove_parametrizations(module, name))")
    legacy = [hook.name for hook in module._forward_pre_hooks.values()
              if isinstance(hook, WeightNorm | SpectralNorm)]
    if legacy:
        return (f"its {', '.join(legacy)} is computed by torch.nn.utils.weight_norm or "
                "spectral_norm (a forward pre-hook); remove it first "
                "(torch.nn.utils.remove_weight_norm / remove_spectral_norm(module))")
    pruned = [hook._tensor_name for hook in module._forward_pre_hooks.values()
              if isinstance(hook, BasePruningMethod)]
    if pruned:
        return (f"its {', '.join(pruned)} carries a torch.nn.utils.prune mask; make the "
                "pruning permanent first (torch.nn.utils.prune.remove(module, name))")
    return None


def check_plain(modules: tuple[nn.Module, ...],
                name_of: Callable[[nn.Module], str] = lambda module: type(module).__name__,
                site: str = "") -> None:
    """Refuse a site whose producers, in-between modules or consumer are wrapped (see
    module doc), naming the first such module (``name_of``, asked only then) and what to do.

    Raises:
        NeuroplastError: the module, the wrapper and how to remove it.
    """
    for module in modules:
        reason = wrapper_of(module)
        if reason is not None:
            where = f" of site {site!r}" if site else ""
            raise NeuroplastError(f"{name_of(module)}{where} cannot be resized: {reason}")
