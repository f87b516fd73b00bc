"""Deciding what happens to one inbound message: pass, deny or hold.

Theory of operation: the operator writes rules; each has a ``field`` (``smsc``: the
connector the message came through, ``source``: the sender address, ``content``: the
text), how it matches (``exact``, ``prefix``, ``contains`` — case-insensitive — or
``regex``), an ``action`` and a scope (one connector, or every one when ``connector``
is None). A :class:`RuleSet` is compiled once from all rules and decides in this order:

1. a matching ``deny`` rule: the message is dropped (acknowledged to the SMSC, never
   stored, an audit entry kept);
2. a matching ``hold`` rule: stored but kept out of every inbox until an operator
   releases or drops it;
3. allow-lists: when a field has ``allow`` rules (without a service) in scope, a
   message matching none of them is denied;
4. per-service sender allow-lists: ``allow`` rules on ``source`` with a ``service``
   name the senders that service uses; a message for that service from any other
   sender is held. :meth:`RuleSet.decide` checks the service its sender or text was
   recognised as; the rental's service is checked by :meth:`RuleSet.sender_decision`
   once routing found the rental (:mod:`.ingest_step`).

The first rule that decided is in the :class:`Decision`, so the audit entry and the
operator's console can say why. Matching is plain Python over few rules (an operator
keeps tens, not thousands); regexes are compiled once, with a length cap on patterns
against pathological ones.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Field(StrEnum):
    SMSC = "smsc"
    SOURCE = "source"
    CONTENT = "content"


class Match(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    CONTAINS = "contains"
    REGEX = "regex"


class Action(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    HOLD = "hold"


class Verdict(StrEnum):
    PASS = "pass"
    DENY = "deny"
    HOLD = "hold"


#: The longest pattern accepted (a regex this long is already a smell).
MAX_PATTERN = 500


class InvalidRule(ValueError):
    """A rule that cannot be used (a regex that does not compile, a bad combination)."""


@dataclass(frozen=True, slots=True)
class FilterRule:
    """One operator rule (a row of ``inbound_filters``)."""

    id: int
    field: Field
    match: Match
    pattern: str
    action: Action
    connector: str | None = None
    service: str | None = None
    enabled: bool = True

    def check(self) -> FilterRule:
        """This rule, if usable; :class:`InvalidRule` otherwise."""
        if not self.pattern or len(self.pattern) > MAX_PATTERN:
            raise InvalidRule(f"a pattern has 1 to {MAX_PATTERN} characters")
        if "\x00" in self.pattern:
            # PostgreSQL text cannot hold NUL (and no SMS field has one).
            raise InvalidRule("a pattern cannot hold a NUL character")
        if self.service is not None and (self.action, self.field) != (Action.ALLOW, Field.SOURCE):
            raise InvalidRule("a service names the senders it allows: action allow, field source")
        if self.match is Match.REGEX:
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise InvalidRule(f"the regex does not compile: {error}") from None
        return self


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    rule_id: int | None = None
    reason: str = ""


PASS = Decision(Verdict.PASS)


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: FilterRule
    test: re.Pattern[str]


def _source(rule: FilterRule) -> str:
    """The rule as a regex, flags inline, so rules can be joined into one (:class:`_Any`)."""
    if rule.match is Match.REGEX:
        return rule.pattern
    escaped = re.escape(rule.pattern)
    anchored = {
        Match.EXACT: rf"\A{escaped}\Z",
        Match.PREFIX: rf"\A{escaped}",
        Match.CONTAINS: escaped,
    }[rule.match]
    return f"(?i:{anchored})"


def _compile(rule: FilterRule) -> _Compiled:
    rule.check()
    return _Compiled(rule, re.compile(_source(rule)))


def _joinable(compiled: _Compiled) -> bool:
    """Whether the rule means the same inside an alternation of others: no groups (whose
    numbers, and backreferences to them, would shift) and no global inline flags."""
    return compiled.test.groups == 0 and not _GLOBAL_FLAGS.match(compiled.rule.pattern)


_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


class _Any:
    """Whether any of ``rules`` (deny or hold rules) matches a message, in one regex search
    per (field, connector scope) instead of one per rule: a message that matches none,
    nearly every message, costs a few searches however many rules there are. Rules that
    cannot be joined (:func:`_joinable`) are tried one by one. Which rule matched first in
    the operator's order is found by the caller, only when one did."""

    def __init__(self, rules: list[_Compiled]) -> None:
        joined: dict[tuple[Field, str | None], list[str]] = defaultdict(list)
        self._singles: list[_Compiled] = []
        for compiled in rules:
            if _joinable(compiled):
                key = (compiled.rule.field, compiled.rule.connector)
                joined[key].append(f"(?:{_source(compiled.rule)})")
            else:
                self._singles.append(compiled)
        self._joined = [
            (field, connector, re.compile("|".join(parts)))
            for (field, connector), parts in joined.items()
        ]

    def search(self, connector: str, values: dict[Field, str]) -> bool:
        for rule_field, scope, test in self._joined:
            if scope in (None, connector) and test.search(values[rule_field]) is not None:
                return True
        return any(_applies(compiled, connector, values) for compiled in self._singles)


@dataclass
class RuleSet:
    """All enabled rules, compiled, ready to decide. See the module docstring."""

    rules: list[FilterRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        compiled = [_compile(rule) for rule in self.rules if rule.enabled]
        self._deny = [c for c in compiled if c.rule.action is Action.DENY]
        self._hold = [c for c in compiled if c.rule.action is Action.HOLD]
        self._any_deny, self._any_hold = _Any(self._deny), _Any(self._hold)
        self._allow: dict[Field, list[_Compiled]] = defaultdict(list)
        self._service_senders: dict[str, list[_Compiled]] = defaultdict(list)
        for c in compiled:
            if c.rule.action is not Action.ALLOW:
                continue
            if c.rule.service is not None:
                self._service_senders[c.rule.service].append(c)
            else:
                self._allow[c.rule.field].append(c)
        self.empty = not compiled
        #: Some service has a sender allow-list (else the rental's service needs no look).
        self.service_senders = bool(self._service_senders)

    def decide(
        self, *, connector: str, source: str, text: str | None, service: str | None = None
    ) -> Decision:
        """What to do with a message (see the module docstring)."""
        if self.empty:
            return PASS
        values = {Field.SMSC: connector, Field.SOURCE: source, Field.CONTENT: text or ""}
        for verdict, rules, any_of in (
            (Verdict.DENY, self._deny, self._any_deny),
            (Verdict.HOLD, self._hold, self._any_hold),
        ):
            if any_of.search(connector, values):
                first = next(c for c in rules if _applies(c, connector, values))
                reason = f"{verdict} rule on {first.rule.field}"
                return Decision(verdict, first.rule.id, reason)
        for rule_field, allowed in self._allow.items():
            in_scope = [c for c in allowed if c.rule.connector in (None, connector)]
            if in_scope and not any(_matches(c, values) for c in in_scope):
                return Decision(Verdict.DENY, None, f"{rule_field} not on the allow list")
        if service is not None:
            return self.sender_decision(connector=connector, source=source, service=service)
        return PASS

    def sender_decision(self, *, connector: str, source: str, service: str) -> Decision:
        """Step 4 alone: held when ``service`` has sender allow rules in scope for
        ``connector`` and ``source`` matches none of them; else :data:`PASS`."""
        allowed = self._service_senders.get(service)
        if not allowed:
            return PASS
        values = {Field.SOURCE: source}
        senders = [c for c in allowed if c.rule.connector in (None, connector)]
        if senders and not any(_matches(c, values) for c in senders):
            return Decision(Verdict.HOLD, None, f"sender not known for service {service}")
        return PASS


def _applies(compiled: _Compiled, connector: str, values: dict[Field, str]) -> bool:
    return compiled.rule.connector in (None, connector) and _matches(compiled, values)


def _matches(compiled: _Compiled, values: dict[Field, str]) -> bool:
    return compiled.test.search(values[compiled.rule.field]) is not None


def rule_set(rules: Iterable[FilterRule]) -> RuleSet:
    return RuleSet(list(rules))


__all__ = [
    "MAX_PATTERN",
    "PASS",
    "Action",
    "Decision",
    "Field",
    "FilterRule",
    "InvalidRule",
    "Match",
    "RuleSet",
    "Verdict",
    "rule_set",
]
