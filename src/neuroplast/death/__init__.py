"""Programmed death: re-wiring rules (A1, A2, A3, least squares, none) and strategies."""

from neuroplast.death.rules import RULES, Relation, Rewirer, RuleInfo, get_rule

__all__ = ["RULES", "Relation", "Rewirer", "RuleInfo", "get_rule"]
