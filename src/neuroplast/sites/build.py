"""Declaring sites by hand: one constructor per site kind (discovery calls the same ones).

    linear_site("ffn", producer=model.fc1, consumer=model.fc2, activation="gelu")
    gated_site("mlp", gate=mlp.gate_proj, up=mlp.up_proj, consumer=mlp.down_proj)
    conv_site("block1", producer=conv1, consumer=conv2, between=(bn1,))
    conv_site("last", producer=conv4, consumer=fc, between=(bn4,), flatten_block=7 * 7)
    input_site("input", selector=model.selector, consumer=model.fc1)

``between`` lists the per-channel modules (BatchNorm) between producer and consumer whose
tensors run over the site's channels; element-wise activations, Dropout and pooling have none
and need no mention.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from neuroplast.activations import Activation, get_activation
from neuroplast.errors import NeuroplastError
from neuroplast.sites.axis import Axis
from neuroplast.sites.consumers import ProducerAxes, view_for
from neuroplast.sites.site import Downstream, Site


def _activation(value: Activation | str | None) -> Activation | None:
    return get_activation(value) if isinstance(value, str) else value


def _upstream(modules: Sequence[nn.Module]) -> tuple[tuple[Axis, ...],
                                                    tuple[tuple[nn.Module, str, int], ...]]:
    axes: list[Axis] = []
    widths: list[tuple[nn.Module, str, int]] = []
    for module in modules:
        owner = ProducerAxes(module)
        axes += owner.axes()
        widths += owner.width_attributes()
    return tuple(axes), tuple(widths)


def _check_width(name: str, site: Site, produced: int) -> Site:
    if site.width != produced:
        raise NeuroplastError(
            f"site {name!r}: the producer makes {produced} channels but the consumer "
            f"{type(site.consumer).__name__} reads {site.width} neurons; they do not belong "
            "to one site"
        )
    return site


def _produced(axes: tuple[Axis, ...]) -> int:
    first = axes[0]
    return first.tensor.shape[first.dim]


def linear_site(name: str, *, producer: nn.Module, consumer: nn.Module,
                between: Sequence[nn.Module] = (), activation: Activation | str | None = None,
                consumer_activation: Activation | str | None = None,
                downstream: Downstream | None = None,
                notes: Sequence[str] = ()) -> Site:
    """Linear → [element-wise activation / Dropout] → Linear (or Conv1D); any leading dims."""
    axes, widths = _upstream([producer, *between])
    site = Site(name, "linear", view_for(consumer), axes, widths, _activation(activation),
                _activation(consumer_activation), (producer,), downstream, tuple(notes))
    return _check_width(name, site, _produced(axes))


def gated_site(name: str, *, gate: nn.Module, up: nn.Module, consumer: nn.Module,
               activation: Activation | str | None = None,
               consumer_activation: Activation | str | None = None,
               notes: Sequence[str] = ()) -> Site:
    """act(gate(x)) · up(x) → consumer (LLaMA / Mistral MLP); the site is the product."""
    axes, widths = _upstream([gate, up])
    site = Site(name, "gated", view_for(consumer), axes, widths, _activation(activation),
                _activation(consumer_activation), (gate, up), None, tuple(notes))
    return _check_width(name, site, _produced(axes))


def conv_site(name: str, *, producer: nn.Module, consumer: nn.Module,
              between: Sequence[nn.Module] = (), activation: Activation | str | None = None,
              consumer_activation: Activation | str | None = None,
              flatten_block: int | None = None, notes: Sequence[str] = ()) -> Site:
    """Conv → [BatchNorm] → act → [pool / Dropout] → Conv (``nn.Conv1d``/``2d``/``3d``, the
    same dimensionality), or → Flatten → Linear with ``flatten_block`` = the positions of a
    channel (H·W for a Conv2d) as consumer columns per channel."""
    axes, widths = _upstream([producer, *between])
    kind, block = ("flatten", int(flatten_block)) if flatten_block else ("conv", 1)
    site = Site(name, kind, view_for(consumer, block), axes, widths, _activation(activation),
                _activation(consumer_activation), (producer,), None, tuple(notes))
    return _check_width(name, site, _produced(axes))


def input_site(name: str, *, selector: nn.Module, consumer: nn.Module,
               downstream: Downstream | None = None,
               consumer_activation: Activation | str | None = None) -> Site:
    """The features entering ``consumer``, kept by ``selector`` (a module with a ``kept``
    index buffer, as :class:`neuroplast.models.FeatureSelector`)."""
    if not hasattr(selector, "kept"):
        raise NeuroplastError("an input site needs a selector module with a 'kept' buffer")
    axes = (Axis(selector, "kept", 0, "index"),)
    site = Site(name, "input", view_for(consumer), axes, (), None,
                _activation(consumer_activation), (), downstream)
    return _check_width(name, site, selector.kept.numel())
