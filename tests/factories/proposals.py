"""Build proposals through the services, the way a consortium would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from fundapp.accounts.models import Organisation, User
from projects.models import Attachment, Call, Proposal
from projects.services import proposals as svc
from tests.factories import CallFactory, ResearchAreaFactory, jp_org, kr_org, member_of

MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def report_pdf(title: str) -> bytes:
    """A minimal PDF whose bytes (and SHA-256) differ by ``title``."""
    return MINIMAL_PDF.replace(b"%%EOF", f"% {title}\n%%EOF".encode())


def pdf_upload(name: str = "plan.pdf", content: bytes = MINIMAL_PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


@dataclass
class Consortium:
    call: Call
    jp: Organisation
    kr: Organisation
    pi_jp: User
    pi_kr: User
    office_jp: User
    office_kr: User


def make_consortium(call: Call | None = None) -> Consortium:
    call = call or CallFactory.create(
        research_areas=[ResearchAreaFactory.create(code="semiconductor.ai")]
    )
    jp = jp_org()
    kr = kr_org()
    return Consortium(
        call=call,
        jp=jp,
        kr=kr,
        pi_jp=member_of(jp),
        pi_kr=member_of(kr),
        office_jp=member_of(jp, research_office=True),
        office_kr=member_of(kr, research_office=True),
    )


def kpi(code: str, **overrides: Any) -> dict[str, Any]:
    data = {
        "code": code,
        "name_en": f"KPI {code}",
        "name_ja": f"指標 {code}",
        "name_ko": f"지표 {code}",
        "unit": "TOPS/W",
        "direction": "higher_is_better",
        "baseline": "10",
        "target": "20",
        "weight": "1",
        "mandatory": True,
        "aggregation": "latest",
    }
    data.update(overrides)
    return data


def stages(
    jp: tuple[int, ...] = (40_000_000, 60_000_000),
    krw: tuple[int, ...] = (400_000_000, 600_000_000),
) -> list[dict]:
    return [
        {
            "title": f"Stage {i + 1}",
            "months": 12,
            "deliverable": "Prototype",
            "planned_jpy": jp[i],
            "planned_krw": krw[i],
            "kpis": [kpi(f"K{i + 1}A"), kpi(f"K{i + 1}B", mandatory=False, weight="2")],
        }
        for i in range(len(jp))
    ]


def complete_changes(
    c: Consortium, *, jp_total: int = 100_000_000, kr_total: int = 1_000_000_000
) -> dict[str, Any]:
    return {
        "basics": {
            "title_en": "Edge AI accelerators",
            "title_ja": "エッジAIアクセラレータ",
            "title_ko": "엣지 AI 가속기",
            "abstract_en": "Low-power inference chips.",
            "research_area": "semiconductor.ai",
            "keywords": ["edge", "ai"],
            "trl_now": 3,
            "trl_target": 6,
        },
        "consortium": {
            "members": [
                {"organisation": c.jp.code, "role": "lead_jp"},
                {"organisation": c.kr.code, "role": "lead_kr"},
            ],
            "people": [
                {"user": c.pi_jp.pk, "organisation": c.jp.code, "role": "pi", "effort_percent": 30},
                {"user": c.pi_kr.pk, "organisation": c.kr.code, "role": "pi", "effort_percent": 30},
            ],
        },
        "stages": stages(),
        "budget": [
            {"organisation": c.jp.code, "category": "personnel", "amount": jp_total},
            {"organisation": c.kr.code, "category": "personnel", "amount": kr_total},
        ],
        "ip_plan": {"background_ip": [], "licence_terms": "Non-exclusive research licences."},
        "security": {"dual_use": False, "controlled_categories": [], "notes": ""},
    }


def complete_proposal(
    c: Consortium | None = None, *, basics: dict[str, Any] | None = None
) -> tuple[Proposal, Consortium]:
    """A draft that meets every eligibility rule; ``basics`` replaces fields of the basics
    section (titles and abstracts, for the duplicate-funding check)."""
    c = c or make_consortium()
    proposal = svc.proposal_create(actor=c.pi_jp, call=c.call)
    changes = complete_changes(c)
    changes["basics"].update(basics or {})
    proposal = svc.proposal_update(
        proposal=proposal,
        actor=c.pi_jp,
        expected_version=proposal.version,
        changes=changes,
    )
    svc.attachment_add(
        proposal=proposal, actor=c.pi_jp, upload=pdf_upload(), kind=Attachment.Kind.RESEARCH_PLAN
    )
    proposal.refresh_from_db()
    return proposal, c


def submitted_proposal(
    c: Consortium | None = None, *, basics: dict[str, Any] | None = None
) -> tuple[Proposal, Consortium]:
    proposal, c = complete_proposal(c, basics=basics)
    return svc.proposal_submit(proposal=proposal, actor=c.pi_jp), c
