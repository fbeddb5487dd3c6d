"""Programmed death: re-wiring rules (A1, A2, A3, least squares, none) and strategies."""

from neuroplast.death.rules import RULES, Relation, Rewirer, RuleInfo, get_rule
from neuroplast.death.strategies import (
    PruneResult,
    Strategy,
    make_strategy,
    prune,
    prune_cycles,
    prune_cycles_together,
    prune_retrain_cycles,
    removal_cap,
)

__all__ = [
    "RULES", "PruneResult", "Relation", "Rewirer", "RuleInfo", "Strategy", "get_rule",
    "make_strategy", "prune", "prune_cycles", "prune_cycles_together", "prune_retrain_cycles",
    "removal_cap",
]
