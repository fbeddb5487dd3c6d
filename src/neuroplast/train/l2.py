"""Forms of the paper's "L2 regularization 0.001" (REFERENCE §1.15 item 2).

The paper (Mathematica's ``NetTrain``) gives λ = 0.001 and no functional form. Two choices are
open in the text and both change how far weights shrink over 5 × 10⁵ SGD steps (REFERENCE
§1.15 item 2):

* **scale**: the penalty (λ/2)·Σθ² (gradient λθ, PyTorch's ``weight_decay = λ``; MXNet's
  ``wd``, the engine under Mathematica's nets, uses this form) or λ·Σθ² (gradient 2λθ);
* **biases**: whether the penalty covers biases as well as weights.

Mathematica's own source (the NeuralNetworks/MXNetLink paclets, read on 2026-12-06; version
unknown) passes λ as MXNet's ``wd`` to every trained array, biases included, on the mean
loss: ``half-all``. The fidelity study's cells under ``fast`` favour ``half-weights``, which
the reproduction uses (docs/decisions.md row 2).

One more level, ``quarter-weights`` ((λ/4)·Σw², gradient λθ/2, weights only), is no reading of
the paper: it measures how far the results move when the decay is halved (N1's trained
accuracy rises with a weaker decay; docs/reproduction/fidelity.md, "The strength of the L2
term").

Each form maps to a ``weight_decay`` and whether biases decay (:class:`Protocol` fields);
:func:`with_l2_form` returns the protocol trained under a form. ``half-all`` is what the
protocols already did before this choice was a factor, so it is the default, and a protocol
under it is unchanged. The fidelity study varies it as the run option ``l2``
(docs/reproduction/fidelity.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from neuroplast.errors import NeuroplastError
from neuroplast.train.protocols import Protocol


@dataclass(frozen=True)
class L2Form:
    """One form of "L2 regularization λ": a reading of it, or a sensitivity level.

    Attributes:
        name: the form's name (the run option's level).
        gradient_scale: the penalty's gradient is ``gradient_scale · λ · θ``: 1 for (λ/2)Σθ²,
            2 for λΣθ², 0.5 for (λ/4)Σθ².
        biases: whether biases are penalised too.
        description: what the form penalises, for reports.
    """

    name: str
    gradient_scale: float
    biases: bool
    description: str


L2_FORMS: dict[str, L2Form] = {
    form.name: form for form in (
        L2Form("half-all", 1.0, True, "(λ/2)·Σθ² over weights and biases (the library's default)"),
        L2Form("full-all", 2.0, True, "λ·Σθ² over weights and biases"),
        L2Form("half-weights", 1.0, False, "(λ/2)·Σw² over weights only"),
        L2Form("full-weights", 2.0, False, "λ·Σw² over weights only"),
        L2Form("quarter-weights", 0.5, False,
               "(λ/4)·Σw² over weights only: half of half-weights' decay (a sensitivity level "
               "of the fidelity study, not a reading of Mathematica's)"),
    )
}
"""The forms the fidelity study can run, by name."""

DEFAULT_L2_FORM = "half-all"


def with_l2_form(protocol: Protocol, form: str) -> Protocol:
    """``protocol`` with its L2 term read as ``form`` (``protocol`` itself for the default).

    The protocol's ``weight_decay`` is λ; the result has ``weight_decay = gradient_scale · λ``
    and ``decay_biases = form.biases``.

    Raises:
        NeuroplastError: an unknown form (the message lists the known ones).
    """
    try:
        chosen = L2_FORMS[form]
    except KeyError:
        raise NeuroplastError(
            f"unknown L2 form {form!r}; choose one of: {', '.join(L2_FORMS)}"
        ) from None
    if form == DEFAULT_L2_FORM and protocol.decay_biases:
        return protocol
    return replace(protocol, weight_decay=protocol.weight_decay * chosen.gradient_scale,
                   decay_biases=chosen.biases)
