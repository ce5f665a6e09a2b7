"""The projects domain's ledger transactions described in the reader's language (issue
10): an award's commitment, a termination, a tranche's release, a confirmed payment, a
contribution, and a reversal of any of them; names as the reader reads them."""

from __future__ import annotations

import pytest
from django.utils import translation

from fundapp.accounts.models import Organisation
from fundapp.ledger.descriptions import transaction_descriptions
from fundapp.ledger.models import Transaction
from fundapp.ledger.services import ledger_reverse
from projects.models import Disbursement, Project, Tranche
from projects.services.gates import today_in_tokyo
from projects.services.payments import disbursement_confirm
from projects.services.projects import project_terminate
from tests.factories.pages import build_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

TITLES = {"en": "Edge AI accelerator", "ja": "エッジAIアクセラレータ", "ko": "엣지 AI 가속기"}
NAMES = {"en": "Kyoto Lab", "ja": "京都研究所", "ko": "교토 연구소"}

EXPECTED = {
    "en": {
        "commit": "Award of “Edge AI accelerator”: budget committed, Japan",
        "terminate": "Termination of “Edge AI accelerator”: budget returned, Japan",
        "release": "“Edge AI accelerator”, stage 1: tranche released, Japan",
        "payment": "Payment to Kyoto Lab confirmed",
        "pool": "Contribution of the Japan agency to the fund pool",
        "reserve": "Contribution of the Korea agency to the performance reserve",
        "reversal": "Reversal of: Contribution of the Korea agency to the performance reserve",
    },
    "ja": {
        "commit": "「エッジAIアクセラレータ」の採択：予算確保（日本）",
        "terminate": "「エッジAIアクセラレータ」の終了：予算返還（日本）",
        "release": "「エッジAIアクセラレータ」ステージ1：トランシェ交付（日本）",
        "payment": "京都研究所への支払確認",
        "pool": "日本側機関から基金プールへの拠出",
        "reserve": "韓国側機関から成果準備金への拠出",
        "reversal": "取消：韓国側機関から成果準備金への拠出",
    },
    "ko": {
        "commit": "“엣지 AI 가속기” 선정: 예산 확정, 일본",
        "terminate": "“엣지 AI 가속기” 종료: 예산 반환, 일본",
        "release": "“엣지 AI 가속기”, 1단계: 트랜치 지급, 일본",
        "payment": "교토 연구소 지급 확인",
        "pool": "일본 기관의 기금 풀 출연",
        "reserve": "한국 기관의 성과 적립금 출연",
        "reversal": "취소: 한국 기관의 성과 적립금 출연",
    },
}


def test_every_projects_kind_is_described_in_the_readers_language():
    """One transaction of every kind the projects domain posts, read in each language."""
    world = build_world(evaluate=False)
    Project.objects.filter(pk=world.project.pk).update(
        title_en=TITLES["en"], title_ja=TITLES["ja"], title_ko=TITLES["ko"]
    )
    disbursement = (
        Disbursement.objects.filter(tranche__project=world.project, currency="JPY")
        .order_by("pk")
        .first()
    )
    assert disbursement is not None
    Organisation.objects.filter(pk=disbursement.organisation_id).update(
        name_en=NAMES["en"], name_ja=NAMES["ja"], name_ko=NAMES["ko"]
    )
    disbursement_confirm(
        disbursement=disbursement,
        actor=world.finance_jp,
        paid_on=today_in_tokyo(),
        reference="BANK-1",
    )
    project_terminate(project=world.project, actor=world.officer_jp, reason="Ended")
    tranche = Tranche.objects.get(project=world.project, stage__number=1, side="JP")
    pool = Transaction.objects.filter(
        reference__startswith="contribution:", entries__account__code="fund:JP:pool"
    ).first()
    reserve = Transaction.objects.filter(
        reference__startswith="contribution:", entries__account__code="fund:KR:reserve"
    ).first()
    assert pool is not None and reserve is not None
    reversal = ledger_reverse(transaction=reserve, reference="contribution-reversal-1")
    rows = {
        "commit": Transaction.objects.get(reference=f"project:{world.project.pk}:JP:commit"),
        "terminate": Transaction.objects.get(reference=f"project:{world.project.pk}:JP:terminate"),
        "release": Transaction.objects.get(pk=tranche.ledger_transaction_id or 0),
        "payment": Transaction.objects.get(reference=f"disbursement:{disbursement.pk}:confirm"),
        "pool": pool,
        "reserve": reserve,
        "reversal": reversal,
    }
    for language in ("en", "ja", "ko"):
        with translation.override(language):
            described = transaction_descriptions(rows.values())
        assert {key: described[txn.pk] for key, txn in rows.items()} == EXPECTED[language]
        assert not {txn.memo for txn in rows.values()} & set(described.values())
