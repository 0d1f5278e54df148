"""Patient wording is plain: grade 8 or lower by the Flesch-Kincaid grade formula, computed by
textstat (a maintained library), for every conclusion the shipped knowledge base can draw."""
from __future__ import annotations

import textstat

MAX_GRADE = 8


def test_every_patient_statement_reads_at_grade_8_or_lower(kb):
    concluding = [rule for rule in kb.rules.values() if rule.concludes]
    assert len(concluding) >= 25
    too_hard, missing = [], []
    for rule in concluding:
        wording = rule.statement.get("patient", "").strip()
        if not wording:
            missing.append(rule.id)
            continue
        grade = textstat.flesch_kincaid_grade(wording)
        if grade > MAX_GRADE:
            too_hard.append(f"{rule.id} ({rule.file}): grade {grade:.1f}")
    assert missing == [], "rules that conclude but have no patient wording"
    assert too_hard == [], "patient wording above grade 8:\n" + "\n".join(too_hard)


def test_every_code_has_patient_wording_distinct_from_the_clinician_wording(kb):
    for rule in kb.rules.values():
        if rule.concludes:
            assert rule.statement["patient"].strip() != rule.statement["clinician"].strip(), rule.id


def test_the_formula_tells_plain_from_technical_wording():
    """The check can fail: clinician prose scores above grade 8, plain prose below it."""
    technical = ("Discordance between lumbar spine and total hip densitometric trajectories necessitates "
                 "systematic evaluation of confounding artefacts, including degenerative osteophytosis, "
                 "aortic calcification and vertebral compression fractures, before attributing "
                 "differential skeletal responsiveness to pharmacological intervention.")
    plain = "Your hip bone got thinner. Your doctor will check why and may change your medicine."
    assert textstat.flesch_kincaid_grade(technical) > MAX_GRADE
    assert textstat.flesch_kincaid_grade(plain) <= MAX_GRADE
