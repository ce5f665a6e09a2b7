"""POST bodies for the wizard's forms, built the way the browser sends them."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from tests.factories.proposals import Consortium, kpi


def management(prefix: str, total: int, initial: int = 0) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def rows(prefix: str, items: list[dict[str, Any]]) -> dict[str, str]:
    data = management(prefix, len(items))
    for i, item in enumerate(items):
        for key, value in item.items():
            if isinstance(value, bool):
                if value:
                    data[f"{prefix}-{i}-{key}"] = "on"
                continue
            data[f"{prefix}-{i}-{key}"] = str(value)
    return data


def basics(**overrides: Any) -> dict[str, str]:
    data = {
        "title_en": "Edge AI accelerators",
        "title_ja": "エッジAIアクセラレータ",
        "title_ko": "엣지 AI 가속기",
        "abstract_en": "Low-power inference chips.",
        "abstract_ja": "",
        "abstract_ko": "",
        "research_area": "semiconductor.ai",
        "keywords": "edge, ai",
        "trl_now": "3",
        "trl_target": "6",
    }
    data.update(overrides)
    return data


def consortium(c: Consortium, *, extra_people: list[dict[str, Any]] | None = None) -> dict:
    people = [
        {"user": c.pi_jp.username, "organisation": c.jp.code, "role": "pi", "effort_percent": 30},
        {"user": c.pi_kr.username, "organisation": c.kr.code, "role": "pi", "effort_percent": 30},
        *(extra_people or []),
    ]
    return {
        **rows(
            "members",
            [
                {"organisation": c.jp.code, "role": "lead_jp"},
                {"organisation": c.kr.code, "role": "lead_kr"},
            ],
        ),
        **rows("people", people),
    }


def stages(kpi_rows: list[list[dict[str, Any]]] | None = None) -> dict[str, str]:
    """Two stages (¥40M/¥60M, ₩400M/₩600M) typed with thousands separators."""
    stage_rows = [
        {
            "title": "Prototype",
            "months": "12",
            "deliverable": "Chip",
            "planned_jpy": "40,000,000",
            "planned_krw": "400,000,000",
        },
        {
            "title": "Pilot",
            "months": "12",
            "deliverable": "Board",
            "planned_jpy": "60,000,000",
            "planned_krw": "600,000,000",
        },
    ]
    kpi_rows = kpi_rows or [[kpi("K1A")], [kpi("K2A"), kpi("K2B", mandatory=False)]]
    data = rows("stages", stage_rows)
    for i, items in enumerate(kpi_rows):
        data.update(rows(f"stages-{i}-kpis", items))
    return data


def budget(c: Consortium, jp_amount: str = "100,000,000", kr_amount: str = "1,000,000,000"):
    return rows(
        "budget",
        [
            {"organisation": c.jp.code, "category": "personnel", "amount": jp_amount},
            {"organisation": c.kr.code, "category": "personnel", "amount": kr_amount},
        ],
    )


def ip_plan(c: Consortium) -> dict[str, str]:
    return {
        **rows(
            "background_ip",
            [{"title": "Sparse MAC array", "owner": c.jp.code, "description": "Patent JP-1"}],
        ),
        "licence_terms": "Non-exclusive research licences.",
    }


def security() -> dict[str, str]:
    return {"controlled_categories": "", "security_notes": "No export-controlled items."}


def field_errors(html: str, html_name: str) -> list[str]:
    """The messages rendered right after the input named ``html_name``."""
    match = re.search(
        rf'<ul class="field-errors" id="id_{re.escape(html_name)}_errors"[^>]*>(.*?)</ul>',
        html,
        re.S,
    )
    if not match:
        return []
    return [unescape(m.strip()) for m in re.findall(r"<li>(.*?)</li>", match.group(1), re.S)]


def block_errors(html: str, element_id: str) -> list[str]:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</ul>', html, re.S)
    if not match:
        return []
    return [unescape(m.strip()) for m in re.findall(r"<li>(.*?)</li>", match.group(1), re.S)]
