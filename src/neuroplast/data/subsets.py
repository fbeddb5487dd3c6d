"""Class-peaked training subsets (paper section 5.7, experiment E7).

A "'3'-peaked" set holds 6,000 images of the digit 3 and 600 of each other digit, 11,400 in
all (19 SGD steps of 600 per epoch). The paper does not say how the images were chosen
(REFERENCE §1.15 item 21); here they are drawn at random without replacement.
"""

from __future__ import annotations

import torch

from neuroplast.data.datasets import Split

__all__ = ["peaked_indices", "peaked_split"]

_NUM_CLASSES = 10


def peaked_indices(
    labels: torch.Tensor, digit: int, *, major: int = 6000, minor: int = 600, seed: int = 0
) -> torch.Tensor:
    """Indices of a class-peaked subset: ``major`` examples of ``digit``, ``minor`` of the rest.

    For each class 0..9 in turn, a random permutation of that class's examples is drawn from a
    ``torch.Generator`` seeded with ``seed``, and its first ``major`` (for ``digit``) or
    ``minor`` (other classes) entries are kept. The per-class permutations depend only on
    ``labels`` and ``seed``, not on ``digit``, ``major`` or ``minor``. So with one seed, the
    '3'-peaked and '1'-peaked sets share the same 600 examples of every other digit, and the
    600 '3's of the '1'-peaked set are among the 6,000 of the '3'-peaked set.

    Args:
        labels: 1-D integer tensor of class labels (e.g. ``dataset.train.y``).
        digit: The over-represented class, 0..9.
        major: Number of examples of ``digit`` (paper: 6000).
        minor: Number of examples of each other class (paper: 600).
        seed: Seed of the random choice; the same seed gives the same subset.

    Returns:
        Sorted int64 tensor of ``major + 9 * minor`` distinct indices into ``labels``, on the
        same device as ``labels``.

    Raises:
        ValueError: If ``digit`` is not in 0..9, ``labels`` is not a 1-D integer tensor,
            ``major`` or ``minor`` is negative, or a class has too few examples.
    """
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit < _NUM_CLASSES:
        raise ValueError(f"digit must be an integer in 0..9, got {digit!r}")
    if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype.is_complex:
        raise ValueError(
            f"labels must be a 1-D integer tensor, got shape {tuple(labels.shape)} and dtype "
            f"{labels.dtype}"
        )
    if major < 0 or minor < 0:
        raise ValueError(f"major and minor must be >= 0, got major={major}, minor={minor}")
    cpu_labels = labels.detach().to("cpu", torch.int64)
    generator = torch.Generator().manual_seed(seed)
    chosen: list[torch.Tensor] = []
    for cls in range(_NUM_CLASSES):
        members = torch.nonzero(cpu_labels == cls).flatten()
        need = major if cls == digit else minor
        if members.numel() < need:
            raise ValueError(
                f"class {cls} has only {members.numel()} examples but the {digit}-peaked subset "
                f"needs {need} of it; lower major/minor (e.g. in the MNIST training set digit 5 "
                f"has only 5421 images) or use another dataset"
            )
        order = torch.randperm(members.numel(), generator=generator)
        chosen.append(members[order[:need]])
    indices, _ = torch.sort(torch.cat(chosen))
    return indices.to(labels.device)


def peaked_split(
    split: Split, digit: int, *, major: int = 6000, minor: int = 600, seed: int = 0
) -> Split:
    """Class-peaked subset of a split; see :func:`peaked_indices`.

    Args:
        split: The split to draw from (e.g. ``load_mnist().train``).
        digit: The over-represented class, 0..9.
        major: Number of examples of ``digit``.
        minor: Number of examples of each other class.
        seed: Seed of the random choice.

    Returns:
        A new :class:`Split` with ``major + 9 * minor`` examples in their original order.

    Raises:
        ValueError: As :func:`peaked_indices`.
    """
    idx = peaked_indices(split.y, digit, major=major, minor=minor, seed=seed)
    return Split(x=split.x[idx.to(split.x.device)], y=split.y[idx])
