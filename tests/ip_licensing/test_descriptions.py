"""The licensing domain's ledger transactions described in the reader's language (issue
10): a royalty, its correction and an upfront fee, with the licensee's name and the
licensed asset's title as the reader reads them, in two queries per kind."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from fundapp.accounts.models import Organisation
from fundapp.ledger.descriptions import transaction_descriptions
from fundapp.ledger.models import Transaction
from ip_licensing import rules
from ip_licensing.descriptions import quarter_label
from ip_licensing.models import IPAsset
from ip_licensing.services.royalties import royalty_report_submit
from tests.factories.licensing import days, make_project_world, project_licence

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

NAMES = {"en": "Nagoya Devices", "ja": "名古屋デバイス", "ko": "나고야 디바이스"}
TITLES = {"en": "Edge inference circuit", "ja": "エッジ推論回路", "ko": "엣지 추론 회로"}


def _quarter() -> str:
    today = days(0)
    return rules.format_quarter(today.year, (today.month - 1) // 3 + 1)


@pytest.fixture
def postings():
    pw = make_project_world()
    Organisation.objects.filter(pk=pw.licensee.pk).update(
        name_en=NAMES["en"], name_ja=NAMES["ja"], name_ko=NAMES["ko"]
    )
    IPAsset.objects.filter(pk=pw.asset.pk).update(
        title_en=TITLES["en"], title_ja=TITLES["ja"], title_ko=TITLES["ko"]
    )
    licence = project_licence(pw, start_on=days(-200).isoformat(), upfront_fee=1_000_000)
    first = royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=_quarter(), net_sales=10_000_000
    )
    correction = royalty_report_submit(
        licence=licence, actor=pw.office_licensee, quarter=_quarter(), net_sales=12_000_000
    )
    assert first.ledger_transaction is not None and correction.ledger_transaction is not None
    return {
        "licence": licence,
        "royalty": first.ledger_transaction,
        "correction": correction.ledger_transaction,
        "upfront": Transaction.objects.get(reference=f"licence:{licence.pk}:upfront"),
    }


@pytest.mark.parametrize(
    ("language", "royalty", "correction", "upfront"),
    [
        (
            "en",
            "Royalty for {q} from Nagoya Devices, licence {ref} (“Edge inference circuit”)",
            "Royalty correction for {q} from Nagoya Devices, licence {ref} "
            "(“Edge inference circuit”)",
            "Upfront fee from Nagoya Devices, licence {ref} (“Edge inference circuit”)",
        ),
        (
            "ja",
            "名古屋デバイスのロイヤルティ（{q}、ライセンス{ref}、“エッジ推論回路”）",
            "名古屋デバイスのロイヤルティ訂正（{q}、ライセンス{ref}、“エッジ推論回路”）",
            "名古屋デバイスの一時金（ライセンス{ref}、“エッジ推論回路”）",
        ),
        (
            "ko",
            "나고야 디바이스 로열티 ({q}, 라이선스 {ref}, “엣지 추론 회로”)",
            "나고야 디바이스 로열티 정정 ({q}, 라이선스 {ref}, “엣지 추론 회로”)",
            "나고야 디바이스 선급금 (라이선스 {ref}, “엣지 추론 회로”)",
        ),
    ],
)
def test_royalties_and_fees_are_described_in_the_readers_language(
    postings, language, royalty, correction, upfront
):
    ref = postings["licence"].reference
    rows = [postings["royalty"], postings["correction"], postings["upfront"]]
    with translation.override(language), CaptureQueriesContext(connection) as queries:
        q = quarter_label(_quarter())
        described = transaction_descriptions(rows)
    assert described[postings["royalty"].pk] == royalty.format(q=q, ref=ref)
    assert described[postings["correction"].pk] == correction.format(q=q, ref=ref)
    assert described[postings["upfront"].pk] == upfront.format(q=q, ref=ref)
    assert len(queries) == 4  # two for the royalties, two for the upfront fees


def test_the_quarter_as_the_reader_writes_it():
    with translation.override("ja"):
        assert quarter_label("2026-Q3") == "2026年第3四半期"
    with translation.override("ko"):
        assert quarter_label("2026-Q3") == "2026년 3분기"
    with translation.override("en"):
        assert quarter_label("2026-Q3") == "2026 Q3"
    assert quarter_label("soon") == "soon"
