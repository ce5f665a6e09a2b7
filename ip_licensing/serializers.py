"""Serializers of the IP-licensing API (§10, §14, §21).

Output serializers read rows the views selected (``select_related``/``prefetch_related``)
and never query per row. Amounts are JSON integers, rates decimal strings. Input
serializers check the shape of a request only (400); the services decide what the values
mean (422) and who may do it (403).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fundapp.actors import is_fund_staff
from fundapp.api.approvals import TwoPersonDecisionSerializer
from fundapp.api.permissions import actor_of
from fundapp.ledger.models import Currency as LedgerCurrency
from fundapp.money import MAX_AMOUNT
from ip_licensing import rules
from ip_licensing.models import (
    AllocationChange,
    AssetKind,
    AssetStatus,
    ConsentState,
    Exclusivity,
    IPAsset,
    Licence,
    LicenceApproval,
    Purpose,
    RoyaltyAudit,
    RoyaltyPeriod,
    RoyaltyReport,
)

# The ledger's currencies (one enum in the schema: LedgerCurrencyEnum).
CURRENCY_CHOICES = LedgerCurrency.choices


def _amount(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT, **kwargs)


# --------------------------------------------------------------------------- assets


class AssetSerializer(serializers.ModelSerializer):
    title = serializers.CharField(read_only=True, help_text=_("In the request's language."))
    owner = serializers.IntegerField(source="owner_id", read_only=True)
    owner_code = serializers.CharField(source="owner.code", read_only=True)
    project = serializers.IntegerField(source="project_id", read_only=True, allow_null=True)
    research_area = serializers.SerializerMethodField()

    class Meta:
        model = IPAsset
        fields = [
            "id",
            "kind",
            "title",
            "title_en",
            "title_ja",
            "title_ko",
            "owner",
            "owner_code",
            "project",
            "is_background",
            "inventors",
            "jurisdiction",
            "filing_number",
            "status",
            "research_area",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_research_area(self, asset: IPAsset) -> str | None:
        area = asset.research_area
        return area.code if area is not None else None


class AssetCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AssetKind.choices)
    title_en = serializers.CharField(max_length=300)
    title_ja = serializers.CharField(max_length=300, required=False, allow_blank=True)
    title_ko = serializers.CharField(max_length=300, required=False, allow_blank=True)
    owner = serializers.CharField(
        max_length=32, help_text=_("The owner organisation's code (e.g. JP-OSK-01) or id.")
    )
    project = serializers.IntegerField(
        required=False, allow_null=True, help_text=_("The project it came from.")
    )
    is_background = serializers.BooleanField(
        required=False, default=False, help_text=_("Background IP: no project.")
    )
    inventors = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=100
    )
    jurisdiction = serializers.CharField(max_length=2, required=False, allow_blank=True)
    filing_number = serializers.CharField(max_length=100, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=AssetStatus.choices, required=False)
    research_area = serializers.CharField(
        max_length=120, required=False, allow_blank=True, help_text=_("Research-area code.")
    )


# --------------------------------------------------------------------------- licences


class AssetShareSerializer(serializers.Serializer):
    asset = serializers.IntegerField(help_text=_("Asset id."))
    share_bp = serializers.IntegerField(help_text=_("Basis points of the royalties."))


class LicenceSerializer(serializers.ModelSerializer):
    licensor = serializers.IntegerField(source="licensor_id", read_only=True)
    licensor_code = serializers.CharField(source="licensor.code", read_only=True)
    licensee = serializers.IntegerField(source="licensee_id", read_only=True)
    licensee_code = serializers.CharField(source="licensee.code", read_only=True)
    assets = serializers.SerializerMethodField()
    asset_shares = serializers.SerializerMethodField(
        help_text=_("Each asset's share of the royalties in basis points (sum 10,000).")
    )
    renewal_of = serializers.IntegerField(source="renewal_of_id", read_only=True, allow_null=True)
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, read_only=True)
    # A declared field named like Field.parent (DRF takes it out of the class at creation).
    parent = serializers.IntegerField(  # type: ignore[assignment]
        source="parent_id",
        read_only=True,
        allow_null=True,
        help_text=_("The licence this sublicence was granted under; null for a licence."),
    )

    class Meta:
        model = Licence
        fields = [
            "id",
            "reference",
            "state",
            "licensor",
            "licensor_code",
            "licensee",
            "licensee_code",
            "assets",
            "asset_shares",
            "fields_of_use",
            "purposes",
            "territories",
            "start_on",
            "end_on",
            "exclusivity",
            "sublicensable",
            "sublicence_share_bp",
            "royalty_rate",
            "minimum_annual_royalty",
            "upfront_fee",
            "currency",
            "parent",
            "licensor_accepted_at",
            "licensee_accepted_at",
            "approved_at",
            "activated_at",
            "ended_at",
            "end_reason",
            "renewal_of",
            "upfront_posted",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_assets(self, licence: Licence) -> list[int]:
        # Prefetched by the view (``licence_assets``); sorted for a stable answer.
        return sorted(link.asset_id for link in licence.licence_assets.all())

    @extend_schema_field(AssetShareSerializer(many=True))
    def get_asset_shares(self, licence: Licence) -> list[dict[str, int]]:
        return [
            {"asset": link.asset_id, "share_bp": link.share_bp}
            for link in sorted(licence.licence_assets.all(), key=lambda link: link.asset_id)
        ]


class LicenceTermsSerializer(serializers.Serializer):
    """The terms of a licence (§10.2), as proposed in a new licence or a renewal."""

    fields_of_use = serializers.ListField(
        child=serializers.CharField(max_length=120),
        min_length=1,
        max_length=50,
        help_text=_("Research-area codes; a code covers every code below it."),
    )
    purposes = serializers.ListField(
        child=serializers.ChoiceField(choices=Purpose.choices), min_length=1
    )
    territories = serializers.ListField(
        child=serializers.CharField(max_length=2),
        min_length=1,
        max_length=300,
        help_text=_("ISO 3166-1 alpha-2 codes, or WW for the whole world."),
    )
    start_on = serializers.DateField()
    end_on = serializers.DateField()
    exclusivity = serializers.ChoiceField(choices=Exclusivity.choices)
    sublicensable = serializers.BooleanField(required=False, default=False)
    sublicence_share_bp = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=10000,
        help_text=_(
            "The licence's share of the income from its sublicences, in basis points "
            "(sublicensable licences only)."
        ),
    )
    royalty_rate = serializers.DecimalField(
        max_digits=7,
        decimal_places=6,
        help_text=_('A decimal fraction of net sales, e.g. "0.035000".'),
    )
    minimum_annual_royalty = _amount(required=False, default=0)
    upfront_fee = _amount(required=False, default=0)
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)


class LicenceCreateSerializer(LicenceTermsSerializer):
    licensee = serializers.CharField(
        max_length=32, help_text=_("The licensee organisation's code (e.g. KR-SNU-01) or id.")
    )
    assets = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=100,
        help_text=_("Asset ids; the licensor is their owner."),
    )
    asset_shares = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=10_000),
        required=False,
        max_length=100,
        help_text=_(
            "Each asset's share of the royalties in basis points, in the order of `assets`, "
            "summing to 10,000; equal shares when left out."
        ),
    )


class LicenceRenewSerializer(LicenceTermsSerializer):
    """A renewal proposes new terms for the same parties and assets: every term is
    optional, the old licence's where not given (an empty body renews on the old terms)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class SublicenceConsentStateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=ConsentState.choices)
    requested_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(help_text=_("Why the licensor refused; empty otherwise."))


class SublicenceSerializer(LicenceSerializer):
    """A sublicence (§23) with the licensor's consent."""

    consent = SublicenceConsentStateSerializer(read_only=True, allow_null=True)

    class Meta(LicenceSerializer.Meta):
        fields = [*LicenceSerializer.Meta.fields, "consent"]
        read_only_fields = fields


class SublicenceGrantSerializer(serializers.Serializer):
    """A sublicence's scope, which must lie inside the parent licence's (§23)."""

    licensee = serializers.CharField(
        max_length=32, help_text=_("The sublicensee organisation's code or id.")
    )
    assets = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        help_text=_("Asset ids of the parent licence; default: all of them."),
    )
    fields_of_use = serializers.ListField(child=serializers.CharField(max_length=120))
    purposes = serializers.ListField(child=serializers.ChoiceField(choices=Purpose.choices))
    territories = serializers.ListField(child=serializers.CharField(max_length=2))
    start_on = serializers.DateField()
    end_on = serializers.DateField()
    exclusivity = serializers.ChoiceField(choices=Exclusivity.choices, required=False)


class SublicenceDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[("consent", "consent"), ("refuse", "refuse")])
    reason = serializers.CharField(
        max_length=4000, required=False, allow_blank=True, help_text=_("Required to refuse.")
    )


class LicenceReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=4000)


# --------------------------------------------------------------------------- checks


class LicenceCheckSerializer(serializers.Serializer):
    """Documents one check (§21); the service validates it (422 per field)."""

    asset = serializers.IntegerField(help_text=_("Asset id."))
    licensee = serializers.CharField(help_text=_("Organisation code, e.g. JP-OSK-01."))
    field = serializers.CharField(help_text=_("Research-area code of the use."))
    purpose = serializers.ChoiceField(choices=[(p, p) for p in rules.PURPOSES])
    territory = serializers.CharField(help_text=_("ISO 3166-1 alpha-2 code, or WW."))
    on = serializers.DateField(help_text=_("The day of the use (Asia/Tokyo)."))
    exclusive = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "Whether the use needs the licence's exclusivity (optional, false by default). "
            "Only a licence exclusive on that day allows it: one converted to non-exclusive "
            "after a diligence breach answers diligence_breach from the day of the "
            "conversion, one never exclusive answers not_exclusive."
        ),
    )


class LicenceCheckBatchSerializer(serializers.Serializer):
    checks = LicenceCheckSerializer(many=True, help_text=_("1 to 1,000 checks."))


class LicenceCheckResultSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=[(rules.ALLOW, "allow"), (rules.DENY, "deny")])
    licence = serializers.IntegerField(
        allow_null=True, help_text=_("The licence that allows the use; null on deny.")
    )
    reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=[(r, r) for r in rules.REASONS]),
        help_text=_(
            "Why the use is denied; empty on allow. diligence_breach: the use needs "
            "exclusivity the licence lost after a breached obligation (§23)."
        ),
    )


class LicenceCheckBatchResultSerializer(serializers.Serializer):
    results = LicenceCheckResultSerializer(many=True)


# --------------------------------------------------------------------------- royalties


class RoyaltyReportSerializer(serializers.ModelSerializer):
    licence = serializers.IntegerField(source="licence_id", read_only=True)
    licence_reference = serializers.CharField(source="licence.reference", read_only=True)
    currency = serializers.CharField(source="licence.currency", read_only=True)
    supersedes = serializers.IntegerField(source="supersedes_id", read_only=True, allow_null=True)
    superseded_by = serializers.SerializerMethodField()
    ledger_transaction = serializers.IntegerField(
        source="ledger_transaction_id", read_only=True, allow_null=True
    )

    class Meta:
        model = RoyaltyReport
        fields = [
            "id",
            "licence",
            "licence_reference",
            "quarter",
            "net_sales",
            "royalty_due",
            "sublicence_income",
            "sublicence_due",
            "posted_amount",
            "currency",
            "supersedes",
            "superseded_by",
            "reported_at",
            "ledger_transaction",
            "late_days",
            "late_interest",
            "interest_transaction",
            "flagged",
        ]
        read_only_fields = fields

    interest_transaction = serializers.IntegerField(
        source="interest_transaction_id", read_only=True, allow_null=True
    )
    flagged = serializers.SerializerMethodField(
        help_text=_(
            "Net sales less than half the trailing four-quarter mean (fund staff only; null "
            "for others)."
        )
    )

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_flagged(self, report: RoyaltyReport) -> bool | None:
        request = self.context.get("request")
        if request is None or not is_fund_staff(actor_of(request)):
            return None
        return report.flagged

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_superseded_by(self, report: RoyaltyReport) -> int | None:
        # Annotated by the view (``superseded_by_id``), so no query per row.
        return getattr(report, "superseded_by_id", None)


class RoyaltyReportCreateSerializer(serializers.Serializer):
    licence = serializers.IntegerField(min_value=1, help_text=_("Licence id."))
    quarter = serializers.CharField(max_length=7, help_text=_("YYYY-Qn, e.g. 2026-Q3."))
    net_sales = serializers.IntegerField(
        help_text=_("Whole yen or won, in the licence's currency; 0 to 10¹⁵.")
    )
    sublicence_income = serializers.IntegerField(
        required=False,
        default=0,
        help_text=_(
            "The quarter's income from sublicences, in the licence's currency; the licence's "
            "sublicence share of it is due with the royalty."
        ),
    )


# --------------------------------------------------------------------------- allocation


class AllocationChangeSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    table = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        read_only=True,
        help_text=_("[[organisation id, basis points], …] summing to 10,000."),
    )
    first_officer = serializers.IntegerField(source="first_officer_id", read_only=True)
    second_officer = serializers.IntegerField(
        source="second_officer_id", read_only=True, allow_null=True
    )
    two_person = TwoPersonDecisionSerializer(source="*", read_only=True)

    class Meta:
        model = AllocationChange
        fields = [
            "id",
            "project",
            "table",
            "reason",
            "state",
            "first_officer",
            "first_side",
            "first_at",
            "second_officer",
            "second_side",
            "second_at",
            "two_person",
        ]
        read_only_fields = fields


class LicenceApprovalSerializer(serializers.ModelSerializer):
    """A licence's two-person approval (§2, §10.3)."""

    licence = serializers.IntegerField(source="licence_id", read_only=True)
    two_person = TwoPersonDecisionSerializer(source="*", read_only=True)

    class Meta:
        model = LicenceApproval
        fields = ["id", "licence", "two_person"]
        read_only_fields = fields


class AllocationChangeCreateSerializer(serializers.Serializer):
    project = serializers.IntegerField(min_value=1, help_text=_("Project id."))
    table = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        min_length=1,
        max_length=100,
        help_text=_("[[organisation id, basis points], …] summing to 10,000."),
    )
    reason = serializers.CharField(max_length=4000)


# --------------------------------------------------------------------------- royalty integrity


class RoyaltyPeriodSerializer(serializers.ModelSerializer):
    """A quarter whose report is due, overdue or reported (§23)."""

    licence = serializers.IntegerField(source="licence_id", read_only=True)
    licence_reference = serializers.CharField(source="licence.reference", read_only=True)

    class Meta:
        model = RoyaltyPeriod
        fields = [
            "id",
            "licence",
            "licence_reference",
            "quarter",
            "state",
            "deadline_on",
            "overdue_on",
            "reported_at",
        ]
        read_only_fields = fields


class RoyaltyAuditSerializer(serializers.ModelSerializer):
    """A royalty audit and, once closed, its finding (§23)."""

    licence = serializers.IntegerField(source="licence_id", read_only=True)
    licence_reference = serializers.CharField(source="licence.reference", read_only=True)
    currency = serializers.CharField(source="licence.currency", read_only=True)
    ledger_transaction = serializers.IntegerField(
        source="ledger_transaction_id", read_only=True, allow_null=True
    )

    class Meta:
        model = RoyaltyAudit
        fields = [
            "id",
            "licence",
            "licence_reference",
            "quarter",
            "state",
            "scope",
            "opened_at",
            "finding_amount",
            "finding_interest",
            "finding_days",
            "finding_note",
            "currency",
            "closed_at",
            "ledger_transaction",
        ]
        read_only_fields = fields


class RoyaltyAuditCreateSerializer(serializers.Serializer):
    licence = serializers.IntegerField(min_value=1, help_text=_("Licence id."))
    quarter = serializers.CharField(max_length=7, help_text=_("YYYY-Qn, e.g. 2026-Q3."))
    scope = serializers.CharField(max_length=4000, required=False, allow_blank=True)


class RoyaltyAuditCloseSerializer(serializers.Serializer):
    finding_amount = serializers.IntegerField(
        min_value=-MAX_AMOUNT,
        max_value=MAX_AMOUNT,
        help_text=_("Whole yen or won: positive when underpaid, negative when overpaid."),
    )
    note = serializers.CharField(max_length=4000)
