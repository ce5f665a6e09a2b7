"""Serializers of the funding-engine API: projects, stages, KPIs, measurements, gates,
decisions, tranches and disbursements (§7–§9, §14, §21).

Output serializers read what ``projects.api.engine`` selected and prefetched and never
query per row. Amounts are JSON integers; KPI values, scores, weights and multipliers are
decimal strings. Input serializers check the shape of a request only (400); the services
decide what the values mean (422).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from fundapp.api.approvals import TwoPersonDecisionSerializer
from projects.models import (
    KPI,
    AnomalyKind,
    Disbursement,
    EvidenceUpload,
    Gate,
    GateDecision,
    GateDecisionKind,
    GateEvaluation,
    Measurement,
    MeasurementAttestation,
    MeasurementEvidence,
    Project,
    Stage,
    Tranche,
)
from projects.selectors.verification import VERIFICATION_STATES, verification_state_of

# --------------------------------------------------------------------------- helpers

FOUR_PLACES = Decimal("0.0001")


def decimal_text(value: Any, places: Decimal | None = None) -> str | None:
    """A stored number as a decimal string (``"1.2000"``); ``None`` stays ``None``."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if places is not None:
        number = number.quantize(places)
    return str(number)


def evaluation_kpis(kpi_results: Any) -> list[dict[str, Any]]:
    """The per-KPI lines of a stored snapshot in the published shape (§21).

    The snapshot is written by ``projects.services.gates.gate_evaluate``; a list of
    per-KPI objects is read as is, a mapping keyed by KPI code is read as such a list.
    """
    if isinstance(kpi_results, dict):
        rows = [{"code": code, **(row or {})} for code, row in kpi_results.items()]
    else:
        rows = list(kpi_results or [])
    out = []
    for row in rows:
        missing = bool(row.get("missing", row.get("value") is None))
        out.append(
            {
                "code": row.get("code"),
                "kpi": row.get("kpi_id", row.get("kpi")),
                "value": None if missing else decimal_text(row.get("value")),
                "achievement": decimal_text(row.get("achievement") or 0, FOUR_PLACES),
                "met": bool(row.get("met")),
                "missing": missing,
            }
        )
    return out


class EvaluationKpiSerializer(serializers.Serializer):
    """Documents one line of ``evaluation_kpis`` (the data is built there)."""

    code = serializers.CharField()
    kpi = serializers.IntegerField(allow_null=True)
    value = serializers.CharField(
        allow_null=True, help_text=_("The aggregated value; null when missing.")
    )
    achievement = serializers.CharField(help_text=_("4 decimals, in [0, 1.5]."))
    met = serializers.BooleanField()
    missing = serializers.BooleanField()


class AnomalyFlagSerializer(serializers.Serializer):
    """Documents one anomaly flag of an evaluation (§22); the data is ``evaluation_flags``."""

    kind = serializers.ChoiceField(
        choices=AnomalyKind.choices,
        help_text=_(
            "late_decisive: entered in the last 7 days before the cutoff, and the KPI is met "
            "only with it; at_target: the value that decides the KPI is exactly its target; "
            "jump: more than 3 median absolute deviations from the KPI's earlier values; "
            "reentered_after_rejection: the value of a rejected measurement entered again "
            "after the rejection; shared_evidence: an evidence file (same SHA-256) that a "
            "measurement of another KPI of the project carries too."
        ),
    )
    kpi_id = serializers.IntegerField()
    code = serializers.CharField(allow_null=True, help_text=_("The KPI's code."))
    measurement_ids = serializers.ListField(
        child=serializers.IntegerField(), help_text=_("The measurements behind the flag.")
    )
    detail = serializers.DictField(
        help_text=_(
            "Facts behind the flag, by kind: the value and the target; the median and MAD of "
            "the earlier values; when the rejection was; the file's SHA-256 and the other "
            "KPIs; the value without the late entries."
        )
    )


def evaluation_flags(evaluation: GateEvaluation) -> list[dict[str, Any]]:
    """The snapshot's anomaly flags (§22) in the published shape, each with its KPI's code
    (from the snapshot's own results; no query)."""
    codes = {
        row.get("kpi_id"): row.get("code")
        for row in (evaluation.kpi_results if isinstance(evaluation.kpi_results, list) else [])
        if isinstance(row, dict)
    }
    return [
        {
            "kind": flag.get("kind"),
            "kpi_id": flag.get("kpi_id"),
            "code": codes.get(flag.get("kpi_id")),
            "measurement_ids": list(flag.get("measurement_ids") or []),
            "detail": flag.get("detail") or {},
        }
        for flag in evaluation.anomaly_flags or []
        if isinstance(flag, dict)
    ]


PlannedTrancheSerializer = inline_serializer(
    name="PlannedTranche",
    fields={"JPY": serializers.IntegerField(), "KRW": serializers.IntegerField()},
)


# --------------------------------------------------------------------------- projects


class ProjectKpiSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    stage = serializers.IntegerField(source="stage_id", read_only=True)
    name = serializers.CharField(
        read_only=True,
        help_text=_("In the request's language, else in any language the KPI is named in."),
    )
    means_of_verification = serializers.CharField(
        read_only=True,
        help_text=_(
            "How the KPI is verified (§22), in the request's language, else in any language "
            "it is given in."
        ),
    )

    class Meta:
        model = KPI
        fields = [
            "id",
            "project",
            "stage",
            "code",
            "name",
            "name_en",
            "name_ja",
            "name_ko",
            "unit",
            "direction",
            "baseline",
            "target",
            "weight",
            "mandatory",
            "aggregation",
            "evidence",
            "means_of_verification",
            "means_of_verification_en",
            "means_of_verification_ja",
            "means_of_verification_ko",
        ]
        read_only_fields = fields


class GateRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Gate
        fields = ["id", "due_on", "state", "round"]
        read_only_fields = fields


class ProjectStageSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    gate = serializers.SerializerMethodField()
    kpis = ProjectKpiSerializer(many=True, read_only=True)
    planned_tranche = serializers.SerializerMethodField()

    class Meta:
        model = Stage
        fields = [
            "id",
            "project",
            "number",
            "title",
            "months",
            "deliverable",
            "state",
            "started_on",
            "extensions_used",
            "gate",
            "kpis",
            "planned_tranche",
        ]
        read_only_fields = fields

    @extend_schema_field(GateRefSerializer(allow_null=True))
    def get_gate(self, stage: Stage) -> dict[str, Any] | None:
        try:
            gate = stage.gate
        except ObjectDoesNotExist:
            return None
        return GateRefSerializer(gate).data

    @extend_schema_field(PlannedTrancheSerializer)
    def get_planned_tranche(self, stage: Stage) -> dict[str, int]:
        planned = {"JPY": 0, "KRW": 0}
        for tranche in stage.tranches.all():  # prefetched
            planned[tranche.currency] = planned.get(tranche.currency, 0) + tranche.planned
        return planned


class ProjectListSerializer(serializers.ModelSerializer):
    title = serializers.CharField(read_only=True, help_text=_("In the request's language."))
    call = serializers.IntegerField(source="call_id", read_only=True)
    proposal = serializers.IntegerField(source="proposal_id", read_only=True)
    current_stage = serializers.IntegerField(
        source="current_stage_id", read_only=True, allow_null=True, help_text=_("Stage id.")
    )
    current_stage_number = serializers.SerializerMethodField()
    research_area = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "title",
            "title_en",
            "title_ja",
            "title_ko",
            "state",
            "call",
            "proposal",
            "research_area",
            "current_stage",
            "current_stage_number",
            "awarded_at",
            "started_on",
            "ended_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_current_stage_number(self, project: Project) -> int | None:
        stage = project.current_stage  # select_related
        return stage.number if stage is not None else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_research_area(self, project: Project) -> str | None:
        area = project.research_area  # select_related
        return area.code if area is not None else None


class ProjectOrganisationSerializer(serializers.Serializer):
    organisation = serializers.IntegerField(source="organisation_id", read_only=True)
    code = serializers.CharField(source="organisation.code", read_only=True)
    role = serializers.CharField(read_only=True)
    side = serializers.CharField(read_only=True)
    currency = serializers.CharField(read_only=True)
    budget = serializers.IntegerField(read_only=True)


class ProjectDetailSerializer(ProjectListSerializer):
    stages = ProjectStageSerializer(many=True, read_only=True)
    organisations = ProjectOrganisationSerializer(many=True, read_only=True)

    class Meta(ProjectListSerializer.Meta):
        fields = [*ProjectListSerializer.Meta.fields, "end_reason", "organisations", "stages"]
        read_only_fields = fields


# --------------------------------------------------------------------------- measurements


class AttestationSerializer(serializers.ModelSerializer):
    """A verifier's verdict (§22): by a person (``verifier``) or by a verifier
    organisation's system (``verifier_organisation``)."""

    verifier = serializers.IntegerField(source="verifier_id", read_only=True, allow_null=True)
    verifier_organisation = serializers.IntegerField(
        source="verifier_organisation_id", read_only=True, allow_null=True
    )

    class Meta:
        model = MeasurementAttestation
        fields = ["id", "verdict", "note", "verifier", "verifier_organisation", "created_at"]
        read_only_fields = fields


SHA256_HELP = _("The SHA-256 of the file's bytes, as 64 lowercase hexadecimal digits.")


class EvidenceFileSerializer(serializers.ModelSerializer):
    """One evidence file of a measurement (§22), immutable, with its hash and where to
    download it (for those who may see the measurement)."""

    sha256 = serializers.CharField(read_only=True, help_text=SHA256_HELP)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = MeasurementEvidence
        fields = ["id", "name", "content_type", "size", "sha256", "download_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, evidence: MeasurementEvidence) -> str:
        path = reverse(
            "measurement-evidence-file",
            kwargs={"pk": evidence.measurement_id, "file_id": evidence.pk},
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class EvidenceUploadSerializer(serializers.ModelSerializer):
    """An evidence file uploaded ahead of its measurement, held for its uploader until
    ``expires_at``; name its ``id`` in ``evidence_ids``."""

    sha256 = serializers.CharField(read_only=True, help_text=SHA256_HELP)
    project = serializers.IntegerField(source="project_id", read_only=True)

    class Meta:
        model = EvidenceUpload
        fields = ["id", "project", "name", "content_type", "size", "sha256", "expires_at"]
        read_only_fields = fields


class MeasurementSerializer(serializers.ModelSerializer):
    """Reads ``attestations`` and ``evidence_files`` from the prefetch cache
    (``measurement_queryset``)."""

    project = serializers.IntegerField(source="project_id", read_only=True)
    kpi = serializers.IntegerField(source="kpi_id", read_only=True)
    kpi_code = serializers.CharField(source="kpi.code", read_only=True)
    rejected = serializers.SerializerMethodField()
    attestations = AttestationSerializer(many=True, read_only=True)
    evidence_files = EvidenceFileSerializer(many=True, read_only=True)
    verification = serializers.SerializerMethodField(
        help_text=_(
            "disputed when any verifier disputed it; attested when one attested it and none "
            "disputed it; unverified otherwise."
        )
    )

    class Meta:
        model = Measurement
        fields = [
            "id",
            "project",
            "kpi",
            "kpi_code",
            "value",
            "measured_at",
            "note",
            "evidence_files",
            "source",
            "created_at",
            "rejected",
            "rejected_at",
            "rejection_reason",
            "verification",
            "attestations",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_rejected(self, measurement: Measurement) -> bool:
        return measurement.rejected_at is not None

    @extend_schema_field(serializers.ChoiceField(choices=VERIFICATION_STATES))
    def get_verification(self, measurement: Measurement) -> str:
        return verification_state_of(measurement.attestations.all())


@extend_schema_field(OpenApiTypes.STR)
class PassThroughField(serializers.Field):
    """Hands the JSON value to the service as sent: the service parses and checks it
    (422 with the field's path), so the browser, CSV import and API agree on what is valid."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class MeasurementCreateSerializer(serializers.Serializer):
    kpi = serializers.IntegerField(min_value=1, help_text=_("The KPI's id."))
    value = PassThroughField(
        help_text=_('A decimal, preferably as a string ("12.5"); at most 6 decimal places.'),
    )
    measured_at = PassThroughField(
        help_text=_("ISO 8601 with its offset, e.g. 2026-05-01T10:00:00+09:00; not in the future."),
    )
    note = PassThroughField(required=False, default="", help_text=_("Evidence note."))
    evidence_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        default=list,
        max_length=10,
        help_text=_(
            "Evidence files uploaded before with POST /api/v1/projects/{id}/evidence/ (your "
            "own, of this project, not expired); each becomes one of the measurement's files."
        ),
    )


class MeasurementUploadSerializer(MeasurementCreateSerializer):
    """Documents the multipart form of a report: the fields above as form fields, and the
    evidence files as repeated ``evidence`` parts."""

    evidence = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        max_length=10,
        help_text=_("PDF, CSV, PNG or JPEG files, at most 20 MB each; at most 10."),
    )


class EvidenceAddSerializer(serializers.Serializer):
    """Evidence for a measurement already recorded: references (JSON) or files (multipart)."""

    evidence_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        default=list,
        max_length=10,
        help_text=_("Evidence files uploaded before (your own, of this project, not expired)."),
    )


class EvidenceAddUploadSerializer(EvidenceAddSerializer):
    evidence = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        max_length=10,
        help_text=_("PDF, CSV, PNG or JPEG files, at most 20 MB each; at most 10."),
    )


class EvidenceFileUploadSerializer(serializers.Serializer):
    """Documents the multipart body of an upload ahead of its measurement."""

    file = serializers.FileField(help_text=_("A PDF, CSV, PNG or JPEG file of at most 20 MB."))


class ReasonSerializer(serializers.Serializer):
    reason = PassThroughField(
        required=False, default="", help_text=_("Why; shown to the team and kept in the audit.")
    )


class VerdictNoteSerializer(serializers.Serializer):
    note = PassThroughField(
        required=False,
        default="",
        help_text=_("What the verifier checked; required to dispute. At most 4,000 characters."),
    )


# --------------------------------------------------------------------------- gates


class EvaluationSerializer(serializers.ModelSerializer):
    """The short form, as ``latest_evaluation`` of a gate (§21)."""

    kpis = serializers.SerializerMethodField()
    anomaly_flags = serializers.SerializerMethodField()

    class Meta:
        model = GateEvaluation
        fields = [
            "id",
            "round",
            "score",
            "outcome",
            "evaluated_at",
            "as_of",
            "plan_version",
            "kpis",
            "anomaly_flags",
        ]
        read_only_fields = fields

    @extend_schema_field(EvaluationKpiSerializer(many=True))
    def get_kpis(self, evaluation: GateEvaluation) -> list[dict[str, Any]]:
        return evaluation_kpis(evaluation.kpi_results)

    @extend_schema_field(AnomalyFlagSerializer(many=True))
    def get_anomaly_flags(self, evaluation: GateEvaluation) -> list[dict[str, Any]]:
        """Anomaly flags (§22); any keeps the gate from being released automatically."""
        return evaluation_flags(evaluation)


class EvaluationDetailSerializer(EvaluationSerializer):
    """The whole snapshot: window, policy and the measurements it used (§8)."""

    gate = serializers.IntegerField(source="gate_id", read_only=True)
    inputs = serializers.JSONField(
        source="published_inputs",
        read_only=True,
        help_text=_("The KPIs as evaluated and every measurement counted (id, KPI, value, time)."),
    )

    class Meta(EvaluationSerializer.Meta):
        fields = [
            "id",
            "gate",
            "round",
            "score",
            "outcome",
            "evaluated_at",
            "as_of",
            "plan_version",
            "window_start",
            "cutoff",
            "policy",
            "inputs",
            "kpis",
            "anomaly_flags",
        ]
        read_only_fields = fields


class GateSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="stage.project_id", read_only=True)
    stage = serializers.IntegerField(source="stage_id", read_only=True)
    stage_number = serializers.IntegerField(source="stage.number", read_only=True)
    latest_evaluation = serializers.SerializerMethodField()

    class Meta:
        model = Gate
        fields = [
            "id",
            "project",
            "stage",
            "stage_number",
            "state",
            "due_on",
            "round",
            "latest_evaluation",
        ]
        read_only_fields = fields

    @extend_schema_field(EvaluationSerializer(allow_null=True))
    def get_latest_evaluation(self, gate: Gate) -> dict[str, Any] | None:
        # ``latest_evaluations`` is the views' prefetch of the one latest snapshot.
        latest = getattr(gate, "latest_evaluations", None)
        if latest is None:
            latest = list(gate.evaluations.order_by("-evaluated_at", "-id")[:1])
        return EvaluationSerializer(latest[0]).data if latest else None


class DecisionSerializer(serializers.ModelSerializer):
    gate = serializers.IntegerField(source="gate_id", read_only=True)
    evaluation = serializers.IntegerField(source="evaluation_id", read_only=True)
    first_officer = serializers.IntegerField(
        source="first_officer_id", read_only=True, allow_null=True
    )
    second_officer = serializers.IntegerField(
        source="second_officer_id", read_only=True, allow_null=True
    )
    two_person = TwoPersonDecisionSerializer(source="*", read_only=True)

    class Meta:
        model = GateDecision
        fields = [
            "id",
            "gate",
            "round",
            "evaluation",
            "kind",
            "state",
            "first_officer",
            "first_side",
            "first_at",
            "second_officer",
            "second_side",
            "second_at",
            "automatic",
            "override",
            "justification",
            "extension_months",
            "multiplier",
            "completed_at",
            "two_person",
        ]
        read_only_fields = fields


class DecisionCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=GateDecisionKind.choices)
    justification = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Required to override an automatic outcome."),
    )
    extension_months = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text=_("For an extension: how many months (at most the call's limit)."),
    )


# --------------------------------------------------------------------------- money


class ProjectTrancheSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="project_id", read_only=True)
    stage = serializers.IntegerField(source="stage_id", read_only=True)
    stage_number = serializers.IntegerField(source="stage.number", read_only=True)
    decision = serializers.IntegerField(source="decision_id", read_only=True, allow_null=True)

    class Meta:
        model = Tranche
        fields = [
            "id",
            "project",
            "stage",
            "stage_number",
            "side",
            "currency",
            "planned",
            "multiplier",
            "released",
            "from_reserve",
            "returned_to_pool",
            "state",
            "decision",
            "decided_at",
            "released_at",
        ]
        read_only_fields = fields


class DisbursementSerializer(serializers.ModelSerializer):
    tranche = serializers.IntegerField(source="tranche_id", read_only=True)
    project = serializers.IntegerField(source="tranche.project_id", read_only=True)
    stage_number = serializers.IntegerField(source="tranche.stage.number", read_only=True)
    side = serializers.CharField(source="tranche.side", read_only=True)
    organisation = serializers.IntegerField(source="organisation_id", read_only=True)
    organisation_code = serializers.CharField(source="organisation.code", read_only=True)

    class Meta:
        model = Disbursement
        fields = [
            "id",
            "tranche",
            "project",
            "stage_number",
            "side",
            "organisation",
            "organisation_code",
            "currency",
            "amount",
            "state",
            "paid_on",
            "reference",
            "confirmed_at",
        ]
        read_only_fields = fields


class DisbursementConfirmSerializer(serializers.Serializer):
    paid_on = serializers.DateField(help_text=_("The day the money was paid (ISO 8601)."))
    reference = serializers.CharField(
        max_length=100, help_text=_("The payment's reference in the paying system.")
    )


class KpiForecastSerializer(serializers.Serializer):
    kpi_id = serializers.IntegerField()
    code = serializers.CharField()
    direction = serializers.CharField()
    aggregation = serializers.CharField()
    mandatory = serializers.BooleanField()
    value = serializers.DecimalField(max_digits=40, decimal_places=10, allow_null=True)
    achievement = serializers.DecimalField(max_digits=6, decimal_places=4)
    met = serializers.BooleanField()
    missing = serializers.BooleanField()
    needed = serializers.DecimalField(
        max_digits=40, decimal_places=10, help_text="The aggregated value that meets the KPI."
    )
    gap = serializers.DecimalField(
        max_digits=40,
        decimal_places=10,
        allow_null=True,
        help_text="How far the current value is from ``needed``: 0 when met, null while no "
        "measurement counts.",
    )


class TrancheForecastSerializer(serializers.Serializer):
    tranche_id = serializers.IntegerField()
    side = serializers.CharField()
    currency = serializers.CharField()
    planned = serializers.IntegerField()
    released = serializers.IntegerField()
    from_reserve = serializers.IntegerField(help_text="The bonus the side's reserve pays.")
    bonus_cut = serializers.IntegerField(help_text="The bonus the reserve cannot cover now.")
    returned_to_pool = serializers.IntegerField()


class GateForecastSerializer(serializers.Serializer):
    gate = serializers.IntegerField(source="gate_id")
    as_of = serializers.DateField()
    window_start = serializers.DateTimeField()
    cutoff = serializers.DateTimeField()
    score = serializers.DecimalField(max_digits=6, decimal_places=4)
    outcome = serializers.CharField()
    decision = serializers.CharField(allow_null=True)
    automatic = serializers.BooleanField()
    multiplier = serializers.DecimalField(max_digits=30, decimal_places=10, allow_null=True)
    kpis = KpiForecastSerializer(many=True)
    tranches = TrancheForecastSerializer(many=True)
