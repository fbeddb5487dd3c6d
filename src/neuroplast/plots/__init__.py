"""Figures: pixel maps of pruned inputs and other plots (matplotlib, imported lazily)."""
