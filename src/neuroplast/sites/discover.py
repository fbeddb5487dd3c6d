"""Site discovery: which neurons of any PyTorch model can die and replicate (DESIGN.md §7).

``find_sites(model, example_input)`` returns the model's sites; ``explain_sites`` returns them
with one line for every other weight layer (``nn.Linear``, every convolution, Hugging Face
``Conv1D``) saying why it does not produce a site. Nothing is guessed from names or code:
discovery runs the model on the example (in eval mode, without gradients, a few passes per
layer) and keeps a producer P and its consumer Q only when these experiments
(:mod:`~neuroplast.sites.probes`) agree:

1. Q is the first weight layer that P's output reaches (a layer reaching none produces the
   model's output), and no position (token) of P's output reaches other positions of Q's
   input (attention mixes tokens);
2. Q reads as many channels as P makes, or, after ``Flatten``, blocks of H·W per channel;
3. P's channels reach nothing but Q (no skip connection, no second consumer), and Q's input is
   a function of P's output alone (no residual add, no other branch) — except for a gated FFN,
   where Q reads act(gate(x)) · up(x) from exactly two producers of the same width;
4. perturbing some of P's channels changes only those channels of Q's input (nothing in
   between mixes channels: LayerNorm, softmax, a matmul);
5. between P and Q only parameter-free modules and per-channel ones that surgery resizes
   (BatchNorm, recorded as the site's ``between``); no module on the way, nor any module that
   holds P and Q, owns a tensor of the site's width that surgery would miss;
6. copying neuron k's upstream entries (producer rows, bias, BatchNorm entries) into neuron j
   — what replication does — makes Q's input channels j and k equal.

Names: a site is named after its producer (``features.0``, ``layer1.0.conv1``,
``transformer.h.0.mlp.c_fc``, ``linear1``); a gated site after the module holding its gate,
up and down projections (``model.layers.0.mlp``), or ``gate*up`` when that is the model itself.

Activations: the site's own (``Site.activation``) is the registered activation module between
P and Q (:mod:`~neuroplast.sites.registry`), or, without one, the neuroplast activation that
maps the producer's (or its BatchNorm's) output onto Q's input exactly (``F.relu`` in
``nn.TransformerEncoderLayer``); the consumer's (``Site.consumer_activation``, eq. 28's f′) is
found the same way on the first operation that reads Q's output; None when there is none or
it is not one of :data:`neuroplast.activations.ACTIVATIONS` (f′ = 1; a note says so).

Input features are not offered: pruning a general model's inputs needs a feature selector in
front of its first layer, which only a model that declares its sites has (the paper's MLP,
through ``neuroplast_sites()``); for such a model the declared sites are returned as they are.

The example should hold at least two different examples along dim 0 and be small (two
examples suffice): discovery keeps a copy of every module's input and output for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from neuroplast.activations import ACTIVATIONS
from neuroplast.checks import check_module, check_not_scripted
from neuroplast.compiled import uncompiled
from neuroplast.errors import NeuroplastError
from neuroplast.modes import enter_evaluation, restore_modes
from neuroplast.sites.build import conv_site, gated_site, linear_site
from neuroplast.sites.consumers import ProducerAxes, view_for
from neuroplast.sites.plain import wrapper_of
from neuroplast.sites.probes import Probe, ProbeFailed, leaves
from neuroplast.sites.registry import (
    CONVOLUTIONS,
    TRANSPOSED_CONVOLUTIONS,
    activation_of,
    channel_dim,
    is_activation,
    is_channelwise,
    is_layer,
    is_per_channel,
)
from neuroplast.sites.resolve import declared_sites
from neuroplast.sites.site import Site
from neuroplast.sites.trace import Call
from neuroplast.stats.site import default_forward

Forward = Callable[[nn.Module, Any], Any]
PRODUCING_CONVOLUTIONS = CONVOLUTIONS + TRANSPOSED_CONVOLUTIONS
"""Convolutions that produce sites (channels first); only :data:`CONVOLUTIONS` consume."""

# -- the patterns a refusal names (the text before the colon of every reason) ----------------
OUTPUT_LAYER = "output layer"
RESIDUAL = "residual-coupled"
GROUPED = "grouped conv"
ATTENTION = "attention"
CONCAT = "concat/split"
TRANSPOSED = "transposed"
GATE = "unsupported gate"
MIXING = "channel-mixing op"
UNSUPPORTED = "unsupported module"
NOT_CALLED = "not called"
SHARED = "shared"
ASYMMETRIC = "not channel-wise"
UNUSED = "unused"
FORWARD_FAILS = "forward"

INPUT_NOTE = (
    "input features are not offered: pruning a general model's input features needs a "
    "feature selector in front of its first layer (a model declares one with an input site "
    "in neuroplast_sites(); general models cannot yet)"
)
DECLARED_NOTE = "the model declares its sites (neuroplast_sites()); they are returned as is"


class Skipped(NamedTuple):
    """A weight layer that produces no site, and why, in one line (``pattern: detail``)."""

    module: str
    reason: str

    @property
    def pattern(self) -> str:
        """The refused pattern: one of the constants of this module (``residual-coupled``...)."""
        return self.reason.partition(":")[0]


@dataclass
class Discovery:
    """What :func:`explain_sites` found.

    Attributes:
        sites: the sites, in the execution order of their producers.
        skipped: every other weight layer with its reason.
        notes: remarks about the model as a whole (input features).
    """

    sites: list[Site]
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def site(self, name: str) -> Site:
        """The site called ``name``.

        Raises:
            NeuroplastError: for an unknown name (the message lists the sites).
        """
        for site in self.sites:
            if site.name == name:
                return site
        known = ", ".join(s.name for s in self.sites) or "no site"
        raise NeuroplastError(f"unknown site {name!r}; discovery found: {known}")

    def reason(self, module: str) -> str:
        """Why the layer ``module`` produces no site.

        Raises:
            NeuroplastError: if it is not among the skipped layers.
        """
        for skipped in self.skipped:
            if skipped.module == module:
                return skipped.reason
        raise NeuroplastError(f"{module!r} is not a skipped layer of this model")

    def lines(self) -> list[str]:
        """One line per site, per skipped layer, per note."""
        out = [f"site {s.name}: {s.kind}, width {s.width}, consumer "
               f"{type(s.consumer).__name__}" for s in self.sites]
        out += [f"skipped {s.module}: {s.reason}" for s in self.skipped]
        return out + [f"note: {n}" for n in self.notes]

    def __str__(self) -> str:
        return "\n".join(self.lines())


class _Refused(Exception):
    """A producer (or a gated pair) does not form a site, for ``pattern: detail``."""

    def __init__(self, pattern: str, detail: str, modules: Sequence[nn.Module] = ()) -> None:
        super().__init__(f"{pattern}: {detail}")
        self.reason = f"{pattern}: {detail}"
        self.modules = tuple(modules)


def find_sites(model: nn.Module, example_input: Any, forward: Forward | None = None
               ) -> list[Site]:
    """The sites of ``model`` (see the module docstring for how they are found and named).

    Args:
        model: any network; its mode is restored afterwards and its weights are unchanged
            (one probe copies a neuron's weights into another and back, in place: call it
            outside a forward/backward pair).
        example_input: one small batch (at least two different examples along dim 0), as
            ``forward`` takes it: a tensor, or a dict of keyword inputs.
        forward: how to run the model on the batch (default ``model(**batch)`` for a dict,
            ``model(batch)`` otherwise).

    Returns:
        The sites in the execution order of their producers; the sites the model declares
        if it declares some (``neuroplast_sites()``).

    Raises:
        NeuroplastError: for an example with fewer than two different examples, a model
            whose output is not finite, or one that is not deterministic in eval mode.
    """
    return explain_sites(model, example_input, forward).sites


def explain_sites(model: nn.Module, example_input: Any, forward: Forward | None = None
                  ) -> Discovery:
    """The sites of ``model`` and, for every other weight layer, why not (one line each).

    Same arguments and errors as :func:`find_sites`.
    """
    model = uncompiled(check_module(model))  # a compiled root: its module's names, eagerly
    check_not_scripted(model)  # discovery's hooks cannot run inside a ScriptModule
    declared = declared_sites(model)
    if declared is not None:
        return Discovery(list(declared.values()), [], [DECLARED_NOTE])
    modes = enter_evaluation(model)
    try:
        with torch.no_grad(), ExitStack() as stack:
            for device_type in AUTOCAST_DEVICES:  # the probes compare outputs to rounding
                if _autocast_enabled(device_type):
                    stack.enter_context(torch.autocast(device_type, enabled=False))
            probe = Probe(model, example_input, forward or default_forward)
            return _Discoverer(model, probe).run()
    finally:
        restore_modes(modes)


AUTOCAST_DEVICES = ("cpu", "cuda", "xpu", "mps")
"""Device types whose ``torch.autocast`` discovery turns off: under a lower precision the
probes' comparisons (a copied neuron's channel equal to its source's, to rounding) fail and
no site would be found. Statistics and goals run in the caller's autocast."""


def _autocast_enabled(device_type: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device_type`` (torch < 2.4 takes no device type:
    its CPU and CUDA flags are read instead)."""
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except (TypeError, RuntimeError):
        if device_type == "cpu":
            return bool(torch.is_autocast_cpu_enabled())
        return device_type == "cuda" and bool(torch.is_autocast_enabled())


def _common_prefix(names: Sequence[str]) -> str:
    """The qualified name of the innermost module holding all ``names`` ("" for the model)."""
    parts = [n.split(".") for n in names]
    common = []
    for level in zip(*parts, strict=False):
        if any(p != level[0] for p in level):
            break
        common.append(level[0])
    return ".".join(common)


def _own_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters and floating buffers ``module`` holds itself (not its children's)."""
    own = {k: v for k, v in module._parameters.items() if v is not None}
    own.update({k: v for k, v in module._buffers.items()
                if v is not None and v.is_floating_point()})
    return own


def _held_tensors(module: nn.Module, called: set[nn.Module]) -> dict[str, torch.Tensor]:
    """The tensors ``module``'s forward may read without calling a module: its own parameters
    and floating buffers, plain tensor attributes (``self.mask = torch.ones(n)``), and the
    parameters and buffers of descendants that never run as modules (an ``nn.ParameterList``,
    a submodule whose ``gamma`` the forward reads directly) — named by their paths."""
    held = _own_tensors(module)
    held.update({k: v for k, v in vars(module).items()
                 if torch.is_tensor(v) and k not in held})
    for path, child in module.named_modules():
        if path and child not in called:
            held.update({f"{path}.{k}": v for k, v in _own_tensors(child).items()})
    return held


def _tied_modules(names: dict[nn.Module, str]) -> dict[nn.Module, str]:
    """Every module holding a parameter whose storage another module's parameter also uses
    (``b.weight = a.weight``, a tied embedding and output layer), mapped to the other's name.
    Resizing a site's producer or consumer changes its parameters in place of new ones, so
    a tied partner would be left with the old shape (or changed behind its back)."""
    owners: dict[tuple[Any, ...], list[nn.Module]] = {}
    for module in names:
        for param in module.parameters(recurse=False):
            key = (param.device, param.untyped_storage().data_ptr())
            if module not in owners.setdefault(key, []):
                owners[key].append(module)
    tied: dict[nn.Module, str] = {}
    for modules in owners.values():
        for module in modules:
            others = [names[m] or "the model" for m in modules if m is not module]
            if others:
                tied[module] = ", ".join(others)
    return tied


class _Discoverer:
    """One discovery: the probe of the model, and the decisions for each weight layer."""

    def __init__(self, model: nn.Module, probe: Probe) -> None:
        self.model = model
        self.probe = probe
        self.names = {m: n for n, m in model.named_modules()}
        self.layers = [m for m in self.names if is_layer(m)]
        self.handled: set[int] = set()
        self.tied = _tied_modules(self.names)
        self.called = {call.module for call in probe.base.calls}  # modules the forward runs

    def name(self, module: nn.Module) -> str:
        return self.names[module]

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> Discovery:
        def first_call(layer: nn.Module) -> int:
            calls = self.probe.calls_of(layer)
            return calls[0].index if calls else len(self.probe.base.calls)

        sites: list[Site] = []
        skipped: list[Skipped] = []
        for layer in sorted(self.layers, key=first_call):
            if id(layer) in self.handled:
                continue
            try:
                site = self._producer(layer)
                self._check_untied(site)
            except _Refused as refused:
                for module in refused.modules or (layer,):
                    skipped.append(Skipped(self.name(module), refused.reason))
                    self.handled.add(id(module))
                continue
            except ProbeFailed as failed:
                skipped.append(Skipped(self.name(layer), f"{FORWARD_FAILS}: {failed}"))
                self.handled.add(id(layer))
                continue
            sites.append(site)
            self.handled.update(id(m) for m in site.producers)
        return Discovery(sites, skipped, [INPUT_NOTE])

    # -- layer checks --------------------------------------------------------------------
    def _check_producer(self, layer: nn.Module) -> Call:
        name = self.name(layer)
        wrapped = wrapper_of(layer)
        if wrapped is not None:
            raise _Refused(UNSUPPORTED, wrapped)
        if isinstance(layer, PRODUCING_CONVOLUTIONS) and layer.groups != 1:
            raise _Refused(GROUPED, f"a grouped or depthwise convolution (groups="
                                    f"{layer.groups}) ties its output channels to its input's")
        try:
            ProducerAxes(layer).axes()
        except NeuroplastError:
            raise _Refused(UNSUPPORTED, f"{type(layer).__name__} is not a layer neuroplast "
                                        "resizes (nn.Linear, nn.Conv1d/2d/3d and "
                                        "ConvTranspose1d/2d/3d with groups=1, Hugging Face "
                                        "Conv1D)") from None
        calls = self.probe.calls_of(layer)
        if not calls:
            parent = self._parent(name)
            if isinstance(parent, nn.MultiheadAttention):
                raise _Refused(ATTENTION, f"its weights are used inside {self.name(parent)} "
                                          "(nn.MultiheadAttention: attention heads), which "
                                          "never calls it")
            raise _Refused(NOT_CALLED, "it did not run in the forward on the example (its "
                                       f"parent {type(parent).__name__} may use its weights "
                                       "directly)")
        if len(calls) > 1:
            raise _Refused(SHARED, f"it runs {len(calls)} times per forward (shared weights)")
        if calls[0].output is None:
            raise _Refused(UNSUPPORTED, "its output is not a tensor")
        return calls[0]

    def _check_untied(self, site: Site) -> None:
        """Refuse a site otherwise offered whose producer or consumer shares a parameter with
        another module: the surgery gives the resized layer new parameters, so its tied
        partner would keep the old shape (or be changed behind its back). Checked last, so
        a layer refused for another reason keeps that reason."""
        for module in (*site.producers, site.consumer):
            if module in self.tied:
                role = "its" if module in site.producers else f"its consumer {self.name(module)}'s"
                raise _Refused(SHARED, f"{role} parameters are also {self.tied[module]}'s "
                                       "(tied weights: resizing one would break the other)",
                               site.producers)

    def _parent(self, name: str) -> nn.Module:
        parent = name.rpartition(".")[0]
        return self.model.get_submodule(parent) if parent else self.model

    def _check_consumer(self, layer: nn.Module) -> Call:
        name = self.name(layer)
        wrapped = wrapper_of(layer)
        if wrapped is not None:
            raise _Refused(UNSUPPORTED, f"its consumer {name} cannot be resized: {wrapped}")
        if isinstance(layer, CONVOLUTIONS) and layer.groups != 1:
            raise _Refused(GROUPED, f"its consumer {name} is a grouped or depthwise "
                                    f"convolution (groups={layer.groups}), which ties channels "
                                    "together")
        try:
            view_for(layer)
        except NeuroplastError as error:
            raise _Refused(UNSUPPORTED, f"its consumer {name} cannot be read: {error}") \
                from None
        calls = self.probe.calls_of(layer)
        if len(calls) > 1:
            raise _Refused(SHARED, f"its consumer {name} runs {len(calls)} times per forward "
                                   "(shared weights)")
        if calls[0].input is None:
            raise _Refused(UNSUPPORTED, f"its consumer {name} reads no tensor")
        return calls[0]

    # -- one producer ----------------------------------------------------------------------
    def _consumer_of(self, producer: nn.Module) -> nn.Module:
        """The first weight layer ``producer``'s output reaches (refuses when none does)."""
        reach = self.probe.reach(producer)
        reached = [c for c in reach.calls if is_layer(c.module)]
        if reached:
            return reached[0].module
        if reach.output_changed:
            raise _Refused(OUTPUT_LAYER, "produces the model's output: no consumer (no "
                                         "Linear/Conv reads it)")
        raise _Refused(UNUSED, "its output does not change the model's output on the example")

    def _producer(self, p: nn.Module) -> Site:
        pc = self._check_producer(p)
        q = self._consumer_of(p)
        pname, qname = self.name(p), self.name(q)
        qc = self._check_consumer(q)
        if self.probe.mixes_positions(p, q):
            raise _Refused(ATTENTION, f"its output is mixed across positions (tokens) before "
                                      f"{qname} reads it, as attention does; heads are not "
                                      "channels")
        n = pc.output.shape[channel_dim(p)]
        block = self._block(p, q, n, qc.input.shape[channel_dim(q)])
        self._check_bypass([p], q)
        if not self.probe.exclusive([p], q):
            partners = self._partners(p, q)
            if len(partners) == 1:
                return self._gated(p, partners[0], q)
            if any(self.probe.mixes_positions(w, q) for w in partners):
                others = ", ".join(self.name(w) for w in partners)
                raise _Refused(ATTENTION, f"its output meets {others} in attention before "
                                          f"{qname} reads it; heads are not channels")
            raise _Refused(RESIDUAL, f"{qname}'s input depends on more than {pname}'s output "
                                     "(a residual add or another branch joins it)")
        self._check_local([p], q, n, block)
        chain = self._chain(p, q)
        between = self._between(chain, n, pname, qname)
        self._check_holders([p, q], n)
        activation, notes = self._activation(p, chain, between, qc)
        consumer_activation, consumer_notes = self._consumer_activation(q)
        notes += consumer_notes
        if between:
            notes.append("per-channel modules resized with the site: "
                         + ", ".join(self.name(m) for m in between))
        if isinstance(p, PRODUCING_CONVOLUTIONS):
            site = conv_site(pname, producer=p, consumer=q, between=between,
                             activation=activation, consumer_activation=consumer_activation,
                             flatten_block=None if isinstance(q, CONVOLUTIONS) else block,
                             notes=notes)
        else:
            site = linear_site(pname, producer=p, consumer=q, between=between,
                               activation=activation, consumer_activation=consumer_activation,
                               notes=notes)
        self._check_copies(site)
        return site

    def _block(self, p: nn.Module, q: nn.Module, n: int, entries: int) -> int:
        """Consumer entries per producer channel: 1, or H·W after ``Flatten`` (a conv
        producer read by a Linear)."""
        if entries == n:
            return 1
        if isinstance(p, PRODUCING_CONVOLUTIONS) and channel_dim(q) == -1 and entries % n == 0:
            return entries // n
        shape = self.probe.call(p).output.shape
        other_sizes = [size for dim, size in enumerate(shape)
                       if 0 < dim and dim != channel_dim(p) % len(shape)]
        # a heuristic on sizes (e.g. MLP-Mixer's token MLP: x.transpose(1, 2)): a concatenation
        # whose width happens to equal another dimension's size is called transposed too
        if entries in other_sizes:
            raise _Refused(TRANSPOSED, f"{self.name(q)} reads {entries} channels but "
                                       f"{self.name(p)} makes {n}: {self.name(p)}'s output "
                                       f"reaches {self.name(q)} along another dimension (a "
                                       "transpose or permute), so its channels are not "
                                       f"{self.name(q)}'s input channels")
        raise _Refused(CONCAT, f"{self.name(q)} reads {entries} channels but {self.name(p)} "
                               f"makes {n}: its channels are concatenated with other tensors "
                               "or split")

    def _check_bypass(self, producers: Sequence[nn.Module], q: nn.Module) -> None:
        reach = self.probe.bypass(producers, q)
        if not reach.calls and not reach.output_changed:
            return
        pnames = " and ".join(self.name(p) for p in producers)
        layers = [c for c in reach.calls if is_layer(c.module)]
        where = layers[0].name if layers else "the model's output" if reach.output_changed \
            else reach.calls[0].name
        raise _Refused(RESIDUAL, f"{pnames}'s channels also reach {where} around "
                                 f"{self.name(q)} (a skip/residual connection or a second "
                                 "consumer)", producers)

    def _check_local(self, producers: Sequence[nn.Module], q: nn.Module, n: int,
                     block: int) -> None:
        generator = torch.Generator().manual_seed(n)
        sets = [torch.tensor([n // 2]), torch.randperm(n, generator=generator)[: n // 2]]
        for p in producers:
            for channels in sets:
                if channels.numel() == 0:
                    continue
                changed = self.probe.channels_changed(p, channels, q, block)
                if changed <= set(channels.tolist()):
                    continue
                if block > 1:
                    raise _Refused(CONCAT, f"{self.name(q)}'s columns are not "
                                           f"{self.name(p)}'s channels in blocks of {block} "
                                           "(a concat, split or reshape before it)", producers)
                raise _Refused(MIXING, self._mixing(p, q), producers)

    def _mixing(self, p: nn.Module, q: nn.Module) -> str:
        """Names the modules between ``p`` and ``q`` that may mix channels."""
        suspects = [c for c in leaves(self._chain(p, q))
                    if not is_channelwise(c.module) and not is_layer(c.module)]
        where = f"between {self.name(p)} and {self.name(q)}"
        if suspects:
            named = ", ".join(f"{c.name} ({type(c.module).__name__})" for c in suspects)
            return f"{named} {where} mixes channels"
        return f"an operation {where} outside any module mixes channels (a normalisation, " \
               "softmax or matmul)"

    def _chain(self, p: nn.Module, q: nn.Module) -> list[Call]:
        """The calls between ``p`` and ``q`` that read something ``p`` changes."""
        start, stop = self.probe.call(p).index, self.probe.call(q).index
        return [c for c in self.probe.reach(p).calls if start < c.index < stop]

    def _between(self, chain: Sequence[Call], n: int, pname: str, qname: str
                 ) -> list[nn.Module]:
        """The per-channel modules on the chain (BatchNorm); refuses any other module that
        holds tensors of its own."""
        between: list[nn.Module] = []
        for call in chain:
            module = call.module
            if is_per_channel(module) and any(m is module for m in between):
                continue
            if is_per_channel(module) and not _own_tensors(module):
                continue  # an InstanceNorm without affine or running statistics: channel-wise
            if is_per_channel(module):
                if getattr(module, "num_features", None) != n:
                    raise _Refused(UNSUPPORTED, f"{call.name} ({type(module).__name__}) between "
                                                f"{pname} and {qname} does not have the site's "
                                                f"{n} channels")
                between.append(module)
                continue
            own = _own_tensors(module)
            if next(module.children(), None) is not None:  # a container: its own tensors
                own = {k: v for k, v in own.items() if n in v.shape}  # of the site's width
            if own:
                raise _Refused(UNSUPPORTED, f"{call.name} ({type(module).__name__}) between "
                                            f"{pname} and {qname} holds tensors "
                                            f"({', '.join(own)}) that neuroplast does not "
                                            "resize there (it resizes BatchNorm)")
        return between

    def _check_holders(self, modules: Sequence[nn.Module], n: int) -> None:
        """Refuses when a module holding the site (up to the innermost one holding all of
        ``modules``) holds a tensor with a dimension of ``n`` that its forward may read
        directly (:func:`_held_tensors`): it may use it on the site's channels, and surgery
        would not resize it."""
        names = [self.name(m) for m in modules]
        top = _common_prefix(names)
        holders: set[str] = {top}
        for name in names:
            parts = name.split(".")[:-1]
            while parts and ".".join(parts) != top:
                holders.add(".".join(parts))
                parts.pop()
        for holder in sorted(holders):
            module = self.model.get_submodule(holder) if holder else self.model
            for attr, tensor in _held_tensors(module, self.called).items():
                if n in tensor.shape:
                    label = holder or type(module).__name__
                    raise _Refused(UNSUPPORTED, f"{label} uses its own tensor {attr} "
                                                f"{tuple(tensor.shape)} in its forward, which "
                                                f"may run over the {n} channels; neuroplast "
                                                "would not resize it", modules[:-1])

    def _check_copies(self, site: Site) -> None:
        """Refuses unless giving every neuron neuron 0's upstream entries makes all the
        consumer's input channels equal: a forward that treats a channel by its index (zeroes
        or scales channel 2, applies one activation to the first half and another to the
        rest) would be changed by surgery that moves or copies channels."""
        if site.width < 2:
            return
        if not self.probe.copies(site, 0, range(1, site.width)):
            pnames = " and ".join(self.name(p) for p in site.producers)
            raise _Refused(ASYMMETRIC, f"copying a channel of {pnames} into another does not "
                                       f"make {self.name(site.consumer)}'s inputs equal "
                                       "(something between treats channels differently)",
                           site.producers)

    # -- activations -----------------------------------------------------------------------
    def _identify(self, pre: torch.Tensor, post: torch.Tensor, *, identity: bool
                  ) -> str | None:
        """The one neuroplast activation f with f(pre) = post, or None."""
        if pre is None or post is None or pre.shape != post.shape:
            return None
        found = [name for name, a in ACTIVATIONS.items()
                 if (identity or name != "identity") and self.probe.matches(a.fn(pre), post)]
        return found[0] if len(found) == 1 else None

    def _activation(self, p: nn.Module, chain: Sequence[Call], between: Sequence[nn.Module],
                    qc: Call) -> tuple[str | None, list[str]]:
        """The site's own activation and notes about it."""
        ops = leaves(chain)
        unknown = [c.module for c in ops if not is_channelwise(c.module)]
        if unknown:
            named = ", ".join(type(m).__name__ for m in unknown)
            return None, [f"{named} between producer and consumer is not one of neuroplast's "
                          "activations; site.activation is None"]
        modules = [c.module for c in ops if is_activation(c.module)]
        if len(modules) == 1:
            name = activation_of(modules[0])
            if name is None:
                return None, [f"activation {type(modules[0]).__name__} is not one of "
                              "neuroplast's; site.activation is None"]
            return name, []
        if modules:
            return None, ["several activations in a row; site.activation is None"]
        pre = self.probe.call(between[-1] if between else p).output
        name = self._identify(pre, qc.input, identity=True)
        return name, [] if name else ["no known activation between producer and consumer; "
                                      "site.activation is None"]

    def _consumer_activation(self, q: nn.Module) -> tuple[str | None, list[str]]:
        """The activation applied to ``q``'s output (eq. 28's f'), and notes about it: the
        first operation that reads the output, past any that pass it on unchanged (Dropout in
        eval mode, Identity), is a registered activation module, or reads f(output) for one
        neuroplast activation f (a function such as ``torch.tanh``)."""
        value = self.probe.call(q).output
        for call in leaves(self.probe.reach(q).calls):
            x = call.input
            if x is None or x.shape != value.shape:
                return None, []
            if not torch.equal(x, value):  # reads f(output), f a function
                return self._identify(value, x, identity=False), []
            if is_activation(call.module):
                name = activation_of(call.module)
                return name, [] if name else [f"the consumer's activation "
                                              f"{type(call.module).__name__} is not one of "
                                              "neuroplast's: f' = 1 is used"]
            if call.output is None or not torch.equal(call.output, x):  # not passed on as is
                return None, []
        return None, []

    # -- gated FFN -------------------------------------------------------------------------
    def _partners(self, p: nn.Module, q: nn.Module) -> list[nn.Module]:
        """The other layers whose output has ``p``'s shape and also reaches ``q`` first (a
        gated FFN's other projection, attention's other projections)."""
        pc, qc = self.probe.call(p), self.probe.call(q)
        found = []
        for w in self.layers:
            calls = self.probe.calls_of(w)
            if w is p or id(w) in self.handled or len(calls) != 1:
                continue
            wc = calls[0]
            if wc.index >= qc.index or wc.output is None or wc.output.shape != pc.output.shape:
                continue
            try:
                self._check_producer(w)
                if self._consumer_of(w) is q:
                    found.append(w)
            except (_Refused, ProbeFailed):
                continue
        return found

    def _gated(self, p: nn.Module, partner: nn.Module, q: nn.Module) -> Site:
        a, b = sorted((p, partner), key=lambda m: self.probe.call(m).index)
        pair = (a, b)
        names = f"{self.name(a)} and {self.name(b)}"
        qname = self.name(q)
        qc = self.probe.call(q)
        try:
            if self.probe.mixes_positions(b, q):
                raise _Refused(ATTENTION, f"{self.name(b)}'s output is mixed across positions "
                                          f"(tokens) before {qname} reads it")
            self._check_bypass(pair, q)
            if not self.probe.exclusive(pair, q):
                raise _Refused(RESIDUAL, f"{qname}'s input depends on more than the outputs "
                                         f"of {names} (a residual add or another branch)")
            n = self.probe.call(a).output.shape[channel_dim(a)]
            if self._block(a, q, n, qc.input.shape[channel_dim(q)]) != 1:
                raise _Refused(CONCAT, f"{qname} does not read {names} channel by channel")
            self._check_local(pair, q, n, 1)
            chains = {m: self._chain(m, q) for m in pair}
            for m, chain in chains.items():
                if self._between(chain, n, self.name(m), qname):
                    raise _Refused(UNSUPPORTED, f"per-channel modules between {self.name(m)} "
                                                f"and {qname} in a gated FFN are not "
                                                "supported")
            self._check_holders([a, b, q], n)
            gate, up, activation = self._gate_roles(a, b, q, chains)
        except _Refused as refused:
            raise _Refused(*refused.reason.split(": ", 1), pair) from None
        consumer_activation, notes = self._consumer_activation(q)
        if activation is None:
            notes.append("the gate's activation is not one of neuroplast's; site.activation "
                         "is None")
        top = _common_prefix([self.name(gate), self.name(up), qname])
        name = top or f"{self.name(gate)}*{self.name(up)}"
        site = gated_site(name, gate=gate, up=up, consumer=q, activation=activation,
                          consumer_activation=consumer_activation, notes=notes)
        try:
            self._check_copies(site)
        except _Refused as refused:
            raise _Refused(*refused.reason.split(": ", 1), pair) from None
        return site

    def _gate_roles(self, a: nn.Module, b: nn.Module, q: nn.Module,
                    chains: dict[nn.Module, list[Call]]
                    ) -> tuple[nn.Module, nn.Module, str | None]:
        """(gate, up, activation) of a pair whose product ``q`` reads: the gate is the one
        with an activation module on its way (or, without one, the order in which f(gate)·up
        reproduces ``q``'s input); the up projection must enter as a factor."""
        acts = {m: [c.module for c in leaves(chains[m]) if is_activation(c.module)]
                for m in (a, b)}
        candidates: list[tuple[nn.Module, nn.Module, str | None]] = []
        for gate, up in ((a, b), (b, a)):
            if len(acts[gate]) == 1 and not acts[up]:
                candidates.append((gate, up, activation_of(acts[gate][0])))
        if not candidates:
            x = self.probe.call(q).input
            for gate, up in ((a, b), (b, a)):
                g, u = self.probe.call(gate).output, self.probe.call(up).output
                for name, act in ACTIVATIONS.items():
                    if g.shape == x.shape and self.probe.matches(act.fn(g) * u, x):
                        candidates.append((gate, up, name))
                        break
        if not candidates:
            candidates = [(a, b, None), (b, a, None)]
        for gate, up, activation in candidates:
            if self.probe.homogeneous(up, q):
                return gate, up, activation
        if self.probe.vanishes_with(a, q) or self.probe.vanishes_with(b, q):  # a product
            raise _Refused(GATE, f"{self.name(q)} reads a product of {self.name(a)} and "
                                 f"{self.name(b)} that is not act(gate)·up with up entering "
                                 "as a plain factor (an activation on both projections)")
        raise _Refused(RESIDUAL, f"{self.name(q)} reads a combination of {self.name(a)} and "
                                 f"{self.name(b)} that is not act(gate)·up")

