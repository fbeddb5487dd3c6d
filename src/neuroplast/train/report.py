"""Plain-text reports of a model's size and metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neuroplast.models.mlp import MLP, count_macs, count_parameters


def format_metrics(model: MLP, metrics: Mapping[str, Any], *,
                   train_subset: int | None = None,
                   split_sizes: Mapping[str, int] | None = None) -> str:
    """One block: widths, parameters, MACs, train/test accuracy and loss, wall time.

    ``train_subset``: the training metrics were measured on only this many training images
    (the part a protocol such as ``quick`` trains on); the line says so. ``split_sizes``: the
    images each split's metrics were measured on (``{"train": 60000, "test": 10000}``), said
    on its line.
    """
    lines = [
        f"widths      {model.widths}",
        f"parameters  {count_parameters(model):,}",
        f"MACs        {count_macs(model):,} per example",
    ]
    for split in ("train", "test"):
        if f"{split}_accuracy" in metrics:
            note = (f"   (on the {train_subset:,} training images trained on)"
                    if split == "train" and train_subset is not None else
                    f"   (on {split_sizes[split]:,} images)"
                    if split_sizes is not None and split in split_sizes else "")
            lines.append(f"{split:<5} acc   {metrics[f'{split}_accuracy']:.4f}   "
                         f"loss {metrics[f'{split}_loss']:.4f}{note}")
    if "wall_time_s" in metrics:
        lines.append(f"wall time   {metrics['wall_time_s']:.1f} s")
    return "\n".join(lines)


PLACEHOLDERS = frozenset({"", "-", "—", "n/a"})
"""Cells :func:`format_table` reads as "no value" when it decides a column's alignment."""


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain, aligned text table: a column whose every cell is a number (floats with 4
    decimals, ints with thousands separators, also numbers a caller formatted as text; empty
    cells and dashes do not count) is right-aligned, any other column left-aligned, so one
    column never mixes the two (``reproduce --list``'s sections "5.1" and "2.2, 5.2")."""
    def cell(v: Any) -> str:
        if isinstance(v, bool):
            return str(v)
        if isinstance(v, float):
            return f"{v:.4f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    def numeric(text: str) -> bool:
        try:
            float(text.replace(",", ""))
        except ValueError:
            return False
        return True

    text = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(headers)]
    right = [all(numeric(r[i]) for r in text if r[i] not in PLACEHOLDERS)
             and any(r[i] not in PLACEHOLDERS for r in text) for i in range(len(headers))]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) if r else c.ljust(w)
                      for c, w, r in zip(row, widths, right, strict=True)).rstrip()
            for row in text]
    return "\n".join(out)
