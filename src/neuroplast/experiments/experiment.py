"""The definition of one reproducible experiment, and the per-process dataset cache.

An :class:`Experiment` says which configurations to sweep, how to run one (configuration,
seed) and how to report a finished sweep. Its functions must be top-level functions of an
importable module (not lambdas or closures), so a definition pickles for process pools and
Ray. See :mod:`neuroplast.experiments.definitions` for how to add one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuroplast.data import Dataset, data_fingerprint, load_mnist
from neuroplast.experiments.schema import as_schema
from neuroplast.experiments.sweep import RunSpec
from neuroplast.train import Protocol

ConfigsFunction = Callable[[Protocol], list[dict[str, Any]]]
RunFunction = Callable[[RunSpec, "str | None"], dict[str, Any]]
ReportFunction = Callable[[list[dict[str, Any]], Path], Path]


@dataclass(frozen=True)
class Experiment:
    """One experiment of DESIGN.md §4.

    Attributes:
        name: registry name, used on the command line and in run ids (e.g. ``cutoff-pruning``).
        section: the paper's section (journal version), e.g. ``"5.2"``.
        figures: the paper's figures and tables it reproduces, e.g. ``("Fig. 4", "Fig. 5")``.
        description: one line for ``neuroplast reproduce --list``.
        configs: ``configs(protocol) -> list of configuration dicts`` (plain JSON); lengths
            inside are in the paper's epochs — ``run`` rescales them with the protocol.
        run: ``run(spec, data_dir) -> result dict`` (plain JSON); deterministic given the spec.
        report: ``report(records, out_dir) -> path of summary.md``; ``records`` are the stored
            records (``spec``, ``result``, ``provenance``) of one sweep in run order.
        default_seeds: seeds when ``--seeds`` is not given (the paper's run count).
        needs_data: whether ``run`` reads MNIST (the CLI then checks the data before starting,
            and the results folder records the data's fingerprint).
        options: the run options (:mod:`neuroplast.experiments.options`, e.g. ``"invert"``,
            ``"init"``) that ``run`` reads from a configuration; others are refused.
        result_schema: what ``run`` returns, in the notation of
            :mod:`neuroplast.experiments.schema`; a stored result that does not fit is set
            aside and its run redone. None: any JSON object.
    """

    name: str
    section: str
    figures: tuple[str, ...]
    description: str
    configs: ConfigsFunction
    run: RunFunction
    report: ReportFunction
    default_seeds: int = 28
    needs_data: bool = True
    options: tuple[str, ...] = ()
    result_schema: Any = None

    def __post_init__(self) -> None:
        if self.result_schema is not None:  # plain dicts and lists become (hashable) nodes
            object.__setattr__(self, "result_schema", as_schema(self.result_schema))


def mnist(data_dir: str | None, invert: bool = False) -> Dataset:
    """MNIST from ``data_dir`` (None: ``$NEUROPLAST_DATA``, then the user cache), cached.

    The cache only saves re-reading the files (~3 s) for every run a worker process executes;
    datasets are never modified, so it cannot change any result. One cache per process.
    ``invert=True`` gives the colour-inverted encoding (background 1), as the paper's
    Mathematica data (REFERENCE §1.15 item 6); see :func:`neuroplast.data.load_mnist`.
    """
    return _mnist(data_dir, bool(invert))


@functools.lru_cache(maxsize=2)
def _mnist(data_dir: str | None, invert: bool) -> Dataset:
    """The cache behind :func:`mnist`, keyed positionally (``mnist(d)`` and ``mnist(d,
    invert=False)`` are one entry)."""
    return load_mnist(data_dir, invert=invert)


@functools.lru_cache(maxsize=2)
def mnist_fingerprint(data_dir: str | None) -> str:
    """:func:`neuroplast.data.data_fingerprint` of ``mnist(data_dir)``, computed once per
    process: which data a run was computed from, whatever path they were read from."""
    return data_fingerprint(mnist(data_dir))
