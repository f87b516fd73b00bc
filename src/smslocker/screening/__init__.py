"""Inbound filters: what the operator lets in, keeps out, or holds for review.

:mod:`.rules` decides for one message from the operator's rules (allow, deny and hold
lists on the sending SMSC, the source address and the content, per connector or for
all, and source allow-lists per service).
"""

from .rules import Action, Decision, Field, FilterRule, InvalidRule, Match, RuleSet, Verdict

__all__ = [
    "Action",
    "Decision",
    "Field",
    "FilterRule",
    "InvalidRule",
    "Match",
    "RuleSet",
    "Verdict",
]
