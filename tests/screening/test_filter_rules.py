"""Inbound filter decisions: deny, hold, allow-lists, per-service senders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smslocker.screening.rules import (
    Action,
    Field,
    FilterRule,
    InvalidRule,
    Match,
    RuleSet,
    Verdict,
)


def rule(
    id: int,
    field: Field,
    match: Match,
    pattern: str,
    action: Action,
    **scope: str | bool | None,
) -> FilterRule:
    return FilterRule(id, field, match, pattern, action, **scope)  # type: ignore[arg-type]


def decide(rules: RuleSet, **message: str | None) -> tuple[Verdict, int | None]:
    fields = {"connector": "carrier-a", "source": "Google", "text": "G-123456 is your code"}
    fields.update(message)
    decision = rules.decide(**fields)  # type: ignore[arg-type]
    return decision.verdict, decision.rule_id


def test_no_rules_lets_everything_pass() -> None:
    assert decide(RuleSet()) == (Verdict.PASS, None)


def test_deny_beats_hold_and_names_the_rule() -> None:
    rules = RuleSet(
        [
            rule(1, Field.CONTENT, Match.CONTAINS, "CODE", Action.HOLD),
            rule(2, Field.SOURCE, Match.EXACT, "google", Action.DENY),
        ]
    )
    assert decide(rules) == (Verdict.DENY, 2)  # exact match is case-insensitive
    assert decide(rules, source="Googler") == (Verdict.HOLD, 1)
    assert decide(rules, source="Bank", text="hello") == (Verdict.PASS, None)


def test_rules_are_scoped_to_their_connector() -> None:
    rules = RuleSet([rule(1, Field.SOURCE, Match.PREFIX, "+7", Action.DENY, connector="carrier-b")])
    assert decide(rules, source="+79161234567") == (Verdict.PASS, None)
    assert decide(rules, source="+79161234567", connector="carrier-b") == (Verdict.DENY, 1)


def test_smsc_rules_match_the_connector_name() -> None:
    rules = RuleSet([rule(1, Field.SMSC, Match.EXACT, "grey-route", Action.HOLD)])
    assert decide(rules, connector="grey-route") == (Verdict.HOLD, 1)
    assert decide(rules) == (Verdict.PASS, None)


def test_an_allow_list_denies_what_it_does_not_name() -> None:
    rules = RuleSet(
        [
            rule(1, Field.SOURCE, Match.REGEX, r"^\+44\d+$", Action.ALLOW),
            rule(2, Field.SOURCE, Match.EXACT, "Google", Action.ALLOW),
        ]
    )
    assert decide(rules) == (Verdict.PASS, None)
    assert decide(rules, source="+447700900123") == (Verdict.PASS, None)
    verdict, _ = decide(rules, source="+15550001111")
    assert verdict is Verdict.DENY


def test_an_allow_list_for_one_connector_leaves_the_others_alone() -> None:
    rules = RuleSet([rule(1, Field.SOURCE, Match.EXACT, "Bank", Action.ALLOW, connector="x")])
    assert decide(rules) == (Verdict.PASS, None)
    assert decide(rules, connector="x")[0] is Verdict.DENY


def test_senders_allowed_per_service_hold_the_others() -> None:
    rules = RuleSet(
        [
            rule(1, Field.SOURCE, Match.EXACT, "Google", Action.ALLOW, service="google"),
            rule(2, Field.SOURCE, Match.PREFIX, "+1650", Action.ALLOW, service="google"),
        ]
    )
    assert decide(rules, service="google") == (Verdict.PASS, None)
    assert decide(rules, service="google", source="+16505551234") == (Verdict.PASS, None)
    assert decide(rules, service="google", source="Spammer")[0] is Verdict.HOLD
    # Other services, and messages with no service, are not concerned.
    assert decide(rules, service="telegram", source="Spammer") == (Verdict.PASS, None)
    assert decide(rules, source="Spammer") == (Verdict.PASS, None)


def test_disabled_rules_do_nothing() -> None:
    rules = RuleSet([rule(1, Field.SOURCE, Match.EXACT, "Google", Action.DENY, enabled=False)])
    assert decide(rules) == (Verdict.PASS, None)


def test_missing_text_is_matched_as_empty() -> None:
    rules = RuleSet([rule(1, Field.CONTENT, Match.REGEX, "^$", Action.HOLD)])
    assert decide(rules, text=None) == (Verdict.HOLD, 1)


@pytest.mark.parametrize(
    "bad",
    [
        FilterRule(1, Field.SOURCE, Match.REGEX, "(unclosed", Action.DENY),
        FilterRule(1, Field.SOURCE, Match.EXACT, "", Action.DENY),
        FilterRule(1, Field.SOURCE, Match.EXACT, "x" * 501, Action.DENY),
        FilterRule(1, Field.CONTENT, Match.EXACT, "x", Action.ALLOW, service="google"),
        FilterRule(1, Field.SOURCE, Match.EXACT, "x", Action.DENY, service="google"),
    ],
)
def test_unusable_rules_are_refused_with_a_reason(bad: FilterRule) -> None:
    with pytest.raises(InvalidRule):
        bad.check()
    with pytest.raises(InvalidRule):
        RuleSet([bad])


# The joined search (one regex per field and scope) must decide exactly as trying each
# rule in order does: same verdict, same first rule.
_PATTERNS = st.sampled_from(
    ["ab", "AB", "a.b", "b$", "^a", r"(a)\1", "(?i)ba", "a|b", "x", r"\d+", "(?P<n>b)(?P=n)"]
)
_TEXTS = st.text(alphabet="abAB1x ", max_size=8)


@st.composite
def _rules(draw: st.DrawFn) -> list[FilterRule]:
    count = draw(st.integers(0, 8))
    return [
        FilterRule(
            index,
            draw(st.sampled_from([Field.SOURCE, Field.CONTENT, Field.SMSC])),
            draw(st.sampled_from(list(Match))),
            draw(_PATTERNS),
            draw(st.sampled_from([Action.DENY, Action.HOLD])),
            connector=draw(st.sampled_from([None, "carrier-a", "carrier-b"])),
        )
        for index in range(count)
    ]


def _one_by_one(
    rules: list[FilterRule], connector: str, source: str, text: str
) -> tuple[Verdict, int | None]:
    for action, verdict in ((Action.DENY, Verdict.DENY), (Action.HOLD, Verdict.HOLD)):
        for candidate in rules:
            if candidate.action is not action or candidate.connector not in (None, connector):
                continue
            single = RuleSet([candidate])  # one rule: nothing joined with anything
            if single.decide(connector=connector, source=source, text=text).verdict is verdict:
                return verdict, candidate.id
    return Verdict.PASS, None


@given(
    rules=_rules(),
    connector=st.sampled_from(["carrier-a", "carrier-b", "ab"]),
    source=_TEXTS,
    text=_TEXTS,
)
def test_joined_rules_decide_as_one_by_one(
    rules: list[FilterRule], connector: str, source: str, text: str
) -> None:
    try:
        rule_set = RuleSet(rules)
    except InvalidRule:
        return
    decision = rule_set.decide(connector=connector, source=source, text=text)
    assert (decision.verdict, decision.rule_id) == _one_by_one(rules, connector, source, text)
