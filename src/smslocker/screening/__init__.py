"""Inbound filters: what the operator lets in, keeps out, or holds for review.

:mod:`.rules` decides for one message from the operator's rules (allow, deny and hold
lists on the sending SMSC, the source address and the content, per connector or for
all, and source allow-lists per service); :mod:`.store` keeps the rules (audited) and
the compiled rule set each process decides with; :mod:`.ingest_step` is ingest's
screening step (deny: not stored, audited; hold: stored out of every inbox); and
:mod:`.held` is the operator's review queue (release, drop).
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
