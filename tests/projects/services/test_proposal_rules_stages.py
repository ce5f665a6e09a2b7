"""§5 stage plan: 2–5 stages within the call's bounds, 1–10 KPIs per stage, targets that
differ from baselines, positive weights, unique KPI codes, tranches that never shrink, and
totals within the call's budget and duration."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import translation

from projects.models import ProposalKPI, ProposalState
from projects.rules import proposals as rules
from tests.factories import CallFactory, ResearchAreaFactory
from tests.factories.proposals import complete_proposal, kpi, make_consortium, stages

from .refusals import refused, save, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def budget(c, jpy, krw):
    return [
        {"organisation": c.jp.code, "category": "personnel", "amount": jpy},
        {"organisation": c.kr.code, "category": "personnel", "amount": krw},
    ]


def plan(c, jp, krw, *, months=12):
    """Stages with these tranches and a budget that matches them, so only the stage rules speak."""
    plan_stages = stages(jp=jp, krw=krw)
    for s in plan_stages:
        s["months"] = months
    return {"stages": plan_stages, "budget": budget(c, sum(jp), sum(krw))}


def bounded_call(**kwargs):
    return CallFactory.create(
        research_areas=[ResearchAreaFactory.create(code="semiconductor.ai")], **kwargs
    )


# --------------------------------------------------------------------------- stage counts


def test_a_single_stage_is_saved_as_a_draft_but_refused_at_submit():
    proposal, c = complete_proposal()
    save(proposal, c.pi_jp, **plan(c, (100_000_000,), (1_000_000_000,)))
    with refused(proposal, field="stages", message="This call needs at least 2 stages."):
        submit(proposal, c.pi_jp)


def test_two_stages_are_the_floor_even_if_the_call_asks_for_fewer():
    call = bounded_call(min_stages=1)  # below the §5 bound: the absolute rule still holds
    proposal, c = complete_proposal(make_consortium(call))
    save(proposal, c.pi_jp, **plan(c, (100_000_000,), (1_000_000_000,)))
    with refused(proposal, field="stages", message="This call needs at least 2 stages."):
        submit(proposal, c.pi_jp)


def test_six_stages_are_refused_at_save():
    proposal, c = complete_proposal()
    with refused(proposal, field="stages", message="This call allows at most 5 stages."):
        save(proposal, c.pi_jp, **plan(c, (10_000_000,) * 6, (100_000_000,) * 6, months=6))


def test_five_stages_is_the_ceiling_even_if_the_call_allows_more():
    proposal, c = complete_proposal(make_consortium(bounded_call(max_stages=6)))
    with refused(proposal, field="stages", message="This call allows at most 5 stages."):
        save(proposal, c.pi_jp, **plan(c, (10_000_000,) * 6, (100_000_000,) * 6, months=6))


@pytest.mark.parametrize(
    ("count", "outcome"),
    [(2, "refused at submit"), (3, "submitted"), (4, "submitted"), (5, "refused at save")],
)
def test_a_call_with_three_to_four_stages_bounds_the_plan(count, outcome):
    proposal, c = complete_proposal(make_consortium(bounded_call(min_stages=3, max_stages=4)))
    sections = plan(c, (20_000_000,) * count, (200_000_000,) * count, months=10)
    if outcome == "refused at save":
        with refused(proposal, field="stages", message="This call allows at most 4 stages."):
            save(proposal, c.pi_jp, **sections)
        return
    save(proposal, c.pi_jp, **sections)
    if outcome == "refused at submit":
        with refused(proposal, field="stages", message="This call needs at least 3 stages."):
            submit(proposal, c.pi_jp)
    else:
        assert submit(proposal, c.pi_jp).state == ProposalState.SUBMITTED


# --------------------------------------------------------------------------- KPIs


def test_a_stage_without_kpis_is_saved_as_a_draft_but_refused_at_submit():
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][1]["kpis"] = []
    save(proposal, c.pi_jp, **sections)
    with refused(proposal, field="stages.1.kpis", message="Every stage needs at least one KPI."):
        submit(proposal, c.pi_jp)


def test_eleven_kpis_in_a_stage_are_refused():
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["kpis"] = [kpi(f"K{n:02d}") for n in range(11)]
    with refused(proposal, field="stages.0.kpis", message="A stage has at most 10 KPIs."):
        save(proposal, c.pi_jp, **sections)


def test_ten_kpis_in_a_stage_are_accepted():
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["kpis"] = [kpi(f"K{n:02d}") for n in range(10)]
    save(proposal, c.pi_jp, **sections)
    assert ProposalKPI.objects.filter(proposal=proposal, stage__number=1).count() == 10


@pytest.mark.parametrize("named", ["name_en", "name_ja", "name_ko"])
def test_a_kpi_named_in_any_one_language_is_accepted(named):
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    first = sections["stages"][0]["kpis"][0]
    first.update(name_en="", name_ja="", name_ko="")
    first[named] = "エネルギー効率" if named != "name_en" else "Energy efficiency"
    save(proposal, c.pi_jp, **sections)
    saved = ProposalKPI.objects.get(proposal=proposal, code=first["code"])
    assert getattr(saved, named) == first[named]
    # Shown in the reader's language, else in the language it has.
    with translation.override("ko"):
        assert saved.name == first[named]


@pytest.mark.parametrize(
    ("language", "field"), [("en", "name_en"), ("ja", "name_ja"), ("ko", "name_ko")]
)
def test_a_kpi_without_any_name_is_refused_on_the_readers_name_field(language, field):
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["kpis"][0].update(name_en=" ", name_ja="", name_ko=None)
    with translation.override(language):
        with refused(proposal, field=f"stages.0.kpis.0.{field}") as info:
            save(proposal, c.pi_jp, **sections)
        message = str(info.value.errors[f"stages.0.kpis.0.{field}"][0])
    expected = {
        "en": "Give the KPI a name in at least one language",
        "ja": "成果指標 (KPI)",
        "ko": "성과지표 (KPI)",
    }[language]
    assert expected in message


def test_the_database_refuses_a_kpi_without_any_name():
    proposal, c = complete_proposal()
    kpi_row = ProposalKPI.objects.filter(proposal=proposal).first()
    assert kpi_row is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        ProposalKPI.objects.filter(pk=kpi_row.pk).update(name_en="", name_ja="", name_ko="")


@pytest.mark.parametrize(("baseline", "target"), [("10", "10"), ("10", "10.000"), ("0.5", "0.50")])
def test_a_target_equal_to_its_baseline_is_refused(baseline, target):
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["kpis"][0].update(baseline=baseline, target=target)
    with refused(
        proposal,
        field="stages.0.kpis.0.target",
        message="The target must differ from the baseline.",
    ):
        save(proposal, c.pi_jp, **sections)


@pytest.mark.parametrize("weight", ["0", "0.0000", "-1", -0.5])
def test_a_weight_that_is_not_positive_is_refused(weight):
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["kpis"][0]["weight"] = weight
    with refused(
        proposal,
        field="stages.0.kpis.0.weight",
        message="The weight must be greater than zero.",
    ):
        save(proposal, c.pi_jp, **sections)


@pytest.mark.parametrize(
    ("baseline", "message"),
    [
        ("abc", "Enter a number."),
        ("NaN", "Enter a number."),
        ("1.1234567", "Use at most 6 decimal places."),
        ("1e20", "This number is too large."),
    ],
)
def test_kpi_numbers_are_checked(baseline, message):
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["kpis"][0]["baseline"] = baseline
    with refused(proposal, field="stages.0.kpis.0.baseline", message=message):
        save(proposal, c.pi_jp, **sections)


def test_duplicate_kpi_codes_are_refused_across_stages():
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][1]["kpis"][0]["code"] = sections["stages"][0]["kpis"][0]["code"]
    with refused(
        proposal,
        field="stages.1.kpis.0.code",
        message="KPI codes must be unique in the proposal.",
    ):
        save(proposal, c.pi_jp, **sections)


def test_duplicate_kpi_codes_are_refused_within_a_stage():
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["kpis"] = [kpi("SAME"), kpi("SAME")]
    with refused(proposal, field="stages.0.kpis.1.code"):
        save(proposal, c.pi_jp, **sections)


# --------------------------------------------------------------------------- evidence (§22)


@pytest.mark.parametrize(
    ("mandatory", "evidence", "accepted"),
    [
        (True, "none", False),
        (True, "document", True),
        (True, "attested", True),
        (False, "none", True),
        (False, "document", True),
        (False, "attested", True),
    ],
)
def test_a_mandatory_kpi_needs_at_least_a_document(mandatory, evidence, accepted):
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["kpis"][0].update(mandatory=mandatory, evidence=evidence)
    if not accepted:
        with refused(proposal, field="stages.0.kpis.0.evidence") as info:
            save(proposal, c.pi_jp, **sections)
        assert "A mandatory KPI needs evidence" in str(
            info.value.errors["stages.0.kpis.0.evidence"][0]
        )
        return
    save(proposal, c.pi_jp, **sections)
    saved = ProposalKPI.objects.get(
        proposal=proposal, code=sections["stages"][0]["kpis"][0]["code"]
    )
    assert (saved.mandatory, saved.evidence) == (mandatory, evidence)


@pytest.mark.parametrize(("mandatory", "expected"), [(True, "document"), (False, "none")])
def test_a_kpi_without_an_evidence_level_gets_the_least_it_may_have(mandatory, expected):
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    first = sections["stages"][0]["kpis"][0]
    first.pop("evidence", None)
    first["mandatory"] = mandatory
    save(proposal, c.pi_jp, **sections)
    assert ProposalKPI.objects.get(proposal=proposal, code=first["code"]).evidence == expected


def test_an_unknown_evidence_level_is_refused():
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["kpis"][0]["evidence"] = "notarised"
    with refused(proposal, field="stages.0.kpis.0.evidence"):
        save(proposal, c.pi_jp, **sections)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Test report of an accredited laboratory"),
        ("ja", "認定試験所の試験報告書"),
        ("ko", "Test report of an accredited laboratory"),  # no Korean text: English
    ],
)
def test_the_means_of_verification_is_kept_in_each_language(language, expected):
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    first = sections["stages"][0]["kpis"][0]
    first.update(
        means_of_verification_en="Test report of an accredited laboratory",
        means_of_verification_ja="認定試験所の試験報告書",
    )
    save(proposal, c.pi_jp, **sections)
    saved = ProposalKPI.objects.get(proposal=proposal, code=first["code"])
    with translation.override(language):
        assert saved.means_of_verification == expected


def test_a_means_of_verification_longer_than_2000_characters_is_refused():
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["kpis"][0]["means_of_verification_ko"] = "가" * 2001
    with refused(proposal, field="stages.0.kpis.0.means_of_verification_ko"):
        save(proposal, c.pi_jp, **sections)


def test_the_database_refuses_a_mandatory_kpi_without_evidence():
    proposal, c = complete_proposal()
    kpi_row = ProposalKPI.objects.filter(proposal=proposal, mandatory=True).first()
    assert kpi_row is not None and kpi_row.evidence == "document"
    with pytest.raises(IntegrityError), transaction.atomic():
        ProposalKPI.objects.filter(pk=kpi_row.pk).update(evidence="none")


# --------------------------------------------------------------------------- tranches


def test_a_shrinking_jp_tranche_is_refused_at_submit_naming_the_stage():
    proposal, c = complete_proposal()
    save(proposal, c.pi_jp, **plan(c, (30_000_000, 40_000_000, 30_000_000), (300_000_000,) * 3))
    with refused(proposal) as info:
        submit(proposal, c.pi_jp)
    assert info.value.errors == {
        "stages.2.planned_jpy": ["The JP tranche of stage 3 is smaller than that of stage 2."]
    }


def test_a_shrinking_kr_tranche_is_refused_at_submit_naming_the_stage():
    proposal, c = complete_proposal()
    save(proposal, c.pi_jp, **plan(c, (40_000_000, 60_000_000), (600_000_000, 400_000_000)))
    with refused(proposal) as info:
        submit(proposal, c.pi_jp)
    assert info.value.errors == {
        "stages.1.planned_krw": ["The KR tranche of stage 2 is smaller than that of stage 1."]
    }


def test_both_sides_shrinking_are_reported_separately():
    proposal, c = complete_proposal()
    save(proposal, c.pi_jp, **plan(c, (60_000_000, 40_000_000), (600_000_000, 400_000_000)))
    with refused(proposal) as info:
        submit(proposal, c.pi_jp)
    assert set(info.value.errors) == {"stages.1.planned_jpy", "stages.1.planned_krw"}


def test_equal_tranches_are_accepted():
    proposal, c = complete_proposal()
    save(proposal, c.pi_jp, **plan(c, (50_000_000, 50_000_000), (500_000_000, 500_000_000)))
    assert submit(proposal, c.pi_jp).state == ProposalState.SUBMITTED


@pytest.mark.parametrize(
    ("jp", "krw", "message"),
    [
        (
            (100_000_000, 200_000_001),
            (1_000_000_000, 1_000_000_000),
            "The JP tranches add up to more than the call's maximum JP budget.",
        ),
        (
            (50_000_000, 50_000_000),
            (1_000_000_000, 2_000_000_001),
            "The KR tranches add up to more than the call's maximum KR budget.",
        ),
    ],
)
def test_tranches_above_the_call_maximum_are_refused_at_submit(jp, krw, message):
    proposal, c = complete_proposal()  # the call allows ¥300,000,000 and ₩3,000,000,000
    save(proposal, c.pi_jp, **plan(c, jp, krw))
    with refused(proposal, field="stages", message=message) as info:
        submit(proposal, c.pi_jp)
    assert set(info.value.errors) == {"stages"}


def test_tranches_exactly_at_the_call_maximum_are_accepted():
    proposal, c = complete_proposal()
    save(
        proposal,
        c.pi_jp,
        **plan(c, (100_000_000, 200_000_000), (1_000_000_000, 2_000_000_000)),
    )
    assert submit(proposal, c.pi_jp).state == ProposalState.SUBMITTED


@pytest.mark.parametrize(("months", "accepted"), [(12, True), (13, False)])
def test_the_plan_may_not_outlast_the_call(months, accepted):
    call = bounded_call(max_project_months=24)
    proposal, c = complete_proposal(make_consortium(call))
    save(
        proposal,
        c.pi_jp,
        **plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000), months=months),
    )
    if accepted:
        assert submit(proposal, c.pi_jp).state == ProposalState.SUBMITTED
        return
    with refused(
        proposal, field="stages", message="The stages last 26 months; this call allows at most 24."
    ):
        submit(proposal, c.pi_jp)


@pytest.mark.parametrize(
    ("months", "message"),
    [
        (0, "Enter a number of at least 1."),
        (61, "Enter a number of at most 60."),
        ("twelve", "Enter a whole number."),
        (12.5, "Enter a whole number."),
        (float("inf"), "Enter a whole number."),
        ("1e99999999", "Enter a whole number."),
        (Decimal("1E+99999999"), "Enter a number of at most 60."),
    ],
)
def test_stage_months_are_whole_numbers_from_1_to_60(months, message):
    proposal, c = complete_proposal()
    sections = plan(c, (40_000_000, 60_000_000), (400_000_000, 600_000_000))
    sections["stages"][0]["months"] = months
    with refused(proposal, field="stages.0.months", message=message):
        save(proposal, c.pi_jp, **sections)


@pytest.mark.parametrize(
    ("direction", "baseline", "target", "refused"),
    [
        ("higher_is_better", "10", "5", True),
        ("higher_is_better", "10", "20", False),
        ("lower_is_better", "1e-3", "1e-2", True),
        ("lower_is_better", "0.01", "0.001", False),
    ],
)
def test_the_target_lies_on_the_side_the_direction_names(direction, baseline, target, refused):
    problems = rules.kpi_problems(
        "stages.0.kpis.0",
        baseline=Decimal(baseline),
        target=Decimal(target),
        weight=Decimal(1),
        direction=direction,
    )
    assert bool(problems) is refused
    if refused:
        assert problems[0].field == "stages.0.kpis.0.target"
