"""Efficiency against the true loss change of removing each neuron (the paper's Fig. 1).

One panel per efficiency (E_k, E'_k, ...): x = Δ⟨H⟩ from the exact oracle
(:mod:`neuroplast.oracle`), y = the efficiency, one dot per neuron, Spearman's ρ in the title.
A good efficiency puts the neurons that cost nothing (Δ⟨H⟩ ≈ 0) at the bottom. The y axis is
logarithmic when every efficiency is positive and they span more than two decades (the paper
draws N3 log-log). matplotlib is imported only when drawing, with the Agg backend (no display,
no global backend switch).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from neuroplast.errors import NeuroplastError
from neuroplast.plots.figure import new_figure
from neuroplast.stats.correlation import spearman


def draw_efficiency_scatter(delta_loss: torch.Tensor, efficiencies: Mapping[str, torch.Tensor],
                            path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG with one scatter panel per efficiency against Δ loss. Returns the path.

    Args:
        delta_loss: (n,) Δ⟨H⟩ of removing each neuron alone.
        efficiencies: panel label → (n,) efficiency of each neuron.
        path: the PNG to write (its folder is created).
        title: figure title (e.g. the model, site and rule).

    Raises:
        NeuroplastError: if matplotlib is missing, there is nothing to draw, or lengths differ.
    """
    if not efficiencies:
        raise NeuroplastError("give at least one efficiency to plot")
    delta = delta_loss.detach().to(torch.float64).cpu()
    for label, values in efficiencies.items():
        if values.numel() != delta.numel():
            raise NeuroplastError(
                f"{label} has {values.numel()} values but there are {delta.numel()} loss changes"
            )
    figure = new_figure(4.2 * len(efficiencies), 3.8)
    for panel, (label, values) in enumerate(efficiencies.items(), start=1):
        values = values.detach().to(torch.float64).cpu()
        axes = figure.add_subplot(1, len(efficiencies), panel)
        axes.scatter(delta.numpy(), values.numpy(), s=12, alpha=0.75, edgecolors="none")
        positive = values[values > 0]
        if positive.numel() == values.numel() and float(positive.max() / positive.min()) > 100:
            axes.set_yscale("log")
        rho = spearman(values, delta)
        rho_text = "undefined" if rho is None else f"{rho:.3f}"
        axes.set_title(f"{label}   (Spearman ρ = {rho_text})", fontsize=9)
        axes.set_xlabel("Δ⟨H⟩ after removing the neuron")
        axes.set_ylabel(label)
        axes.axvline(0.0, color="grey", linewidth=0.6)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
