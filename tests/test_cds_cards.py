"""The cards renderer on its own (service/cards.py): production mode with approved content, the
summary limit, the indicator rule, and that the uuid is made from no patient data."""
from __future__ import annotations

from bmdkb.engine.kb import knowledge_base
from bmdkb.engine.run.cases import read_case
from bmdkb.engine.run.evaluate import Evaluator
from bmdkb.service import cards, config

from conftest import CASES, DEMO_CASE
from test_approved_only import approve

DEFAULTS = config.ServiceConfig(allow_unsigned=True)
BASE = "https://cds.example.org"


def render(kb, case, mode):
    evaluation = Evaluator(kb).evaluate(case, approved_only=mode == "production")
    return cards.CardRenderer(kb, config.card_groups(DEFAULTS, kb.stages), mode).render(evaluation, BASE)


def test_production_mode_shows_approved_content_without_caution_and_counts_the_rest(runner, mini_kb_root):
    for rule_id in ("measurement.significant_increase", "measurement.significant_decrease"):
        approve(runner, mini_kb_root, rule_id)   # the pattern rule itself is not approved yet
    case = read_case(DEMO_CASE)
    kb = knowledge_base.load(mini_kb_root)
    statement = kb.rules["pattern.spine_up_hip_down"].statement["clinician"][:60]
    preview, _ = render(kb, case, "preview")
    assert [c["summary"] for c in preview] == [
        "What the DXA change means: Spine up, hip down (not yet approved)"]
    assert statement in preview[0]["detail"] and "Caution" in preview[0]["detail"]
    [withheld], infos = render(kb, case, "production")
    assert withheld["summary"] == "DXA interpretation: 1 conclusion withheld until the editorial board approves them"
    assert statement not in withheld["detail"] and "1 conclusion on this question rest" in withheld["detail"]
    assert infos[0].withheld == 1 and infos[0].codes == ()

    approve(runner, mini_kb_root, "pattern.spine_up_hip_down")
    kb = knowledge_base.load(mini_kb_root)
    [shown], _ = render(kb, case, "production")
    assert shown["summary"] == "What the DXA change means: Spine up, hip down"
    assert shown["indicator"] == "warning" and statement in shown["detail"]
    assert "Caution" not in shown["detail"] and "Withheld" not in shown["detail"]
    assert shown["uuid"] != preview[0]["uuid"]   # another release state and mode: another card


def test_summaries_stay_under_140_characters():
    long_title = "A very long rule title " * 12
    line = cards.summary_line("What the DXA change means", long_title, 7, True)
    assert len(line) < 140 and line.endswith("… (+7 more) (not yet approved)")
    assert cards.summary_line("Follow-up", "Repeat DXA", 0, False) == "Follow-up: Repeat DXA"


def test_the_indicator_rule():
    group = config.CardGroup("g", "G", ("pattern", "hypothesis"), warning_stages=("pattern",))

    class C:
        def __init__(self, kind):
            self.kind = kind

    assert cards.indicator(group, [C("hypothesis"), C("pattern")]) == "warning"
    assert cards.indicator(group, [C("hypothesis")]) == "info"
    assert cards.indicator(config.CardGroup("h", "H", ("check",)), [C("check")]) == "info"


def test_the_uuid_depends_on_what_the_card_says_not_on_the_patient(kb):
    case = read_case(CASES / "spine-up-hip-down.yaml")
    other = dict(case, case_id="someone-else", patient={"sex": "female", "age_years": 71})
    first, _ = render(kb, case, "preview")
    second, _ = render(kb, other, "preview")
    assert [c["uuid"] for c in first] == [c["uuid"] for c in second]
    concordant = read_case(CASES / "concordant-gain.yaml")
    third, _ = render(kb, concordant, "preview")
    assert {c["uuid"] for c in third}.isdisjoint(c["uuid"] for c in first)


def test_a_configured_card_list_must_name_shown_stages(kb):
    import pytest

    bad = config.ServiceConfig(allow_unsigned=True, card_groups=(config.CardGroup("x", "X", ("measurement",)),))
    with pytest.raises(config.ConfigError, match="not a shown stage"):
        config.card_groups(bad, kb.stages)
    twice = config.ServiceConfig(allow_unsigned=True, card_groups=(config.CardGroup("a", "A", ("check",)),
                                                                    config.CardGroup("b", "B", ("check",))))
    with pytest.raises(config.ConfigError, match="second card"):
        config.card_groups(twice, kb.stages)
    one = config.ServiceConfig(allow_unsigned=True, card_groups=(config.CardGroup("a", "A", ("check",)),))
    groups = config.card_groups(one, kb.stages)
    assert [g.id for g in groups][:2] == ["a", "pattern"] and len(groups) == 8   # the rest: a card per stage
