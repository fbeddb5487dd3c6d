"""Plain-text reports of a model's size and metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neuroplast.models.mlp import MLP, count_macs, count_parameters


def format_metrics(model: MLP, metrics: Mapping[str, Any], *,
                   train_subset: int | None = None) -> str:
    """One block: widths, parameters, MACs, train/test accuracy and loss, wall time.

    ``train_subset``: the training metrics were measured on only this many training images
    (the part a protocol such as ``quick`` trains on); the line says so.
    """
    lines = [
        f"widths      {model.widths}",
        f"parameters  {count_parameters(model):,}",
        f"MACs        {count_macs(model):,} per example",
    ]
    for split in ("train", "test"):
        if f"{split}_accuracy" in metrics:
            note = (f"   (on the {train_subset:,} training images trained on)"
                    if split == "train" and train_subset is not None else "")
            lines.append(f"{split:<5} acc   {metrics[f'{split}_accuracy']:.4f}   "
                         f"loss {metrics[f'{split}_loss']:.4f}{note}")
    if "wall_time_s" in metrics:
        lines.append(f"wall time   {metrics['wall_time_s']:.1f} s")
    return "\n".join(lines)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain, aligned text table: numbers right-aligned (floats with 4 decimals, ints with
    thousands separators; also numbers a caller formatted as text), everything else
    left-aligned."""
    def cell(v: Any) -> str:
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

    def aligned(v: Any, text: str, width: int) -> str:
        number = (isinstance(v, int | float) and not isinstance(v, bool)) or numeric(text)
        return text.rjust(width) if number else text.ljust(width)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(aligned(v, c, w) for v, c, w in zip(row, r, widths, strict=True)).rstrip()
            for row, r in zip(rows, text, strict=True)]
    return "\n".join(out)
