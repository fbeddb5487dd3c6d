"""Element-wise activations (moved to :mod:`neuroplast.activations`; re-exported here)."""

from neuroplast.activations import ACTIVATIONS, Activation, get_activation

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]
