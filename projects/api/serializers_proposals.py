"""Serializers of the proposals API (§14, §21).

Output serializers read prefetched model instances (see ``list_queryset`` and
``detail_prefetch`` in ``projects.api.proposals``) and never query per row. Input
serializers only check the *shape* of a request (a wrong top-level type answers 400); what
the values mean is the services' business, which answer 422 with field paths such as
``stages.0.kpis.1.target``.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from projects.models import (
    Attachment,
    BackgroundIP,
    BudgetLine,
    ConsortiumMember,
    Endorsement,
    Proposal,
    ProposalDeliverable,
    ProposalKPI,
    ProposalPerson,
    ProposalStage,
)
from projects.permissions import LEAD_ROLES
from projects.services.proposals import SECTIONS

# --------------------------------------------------------------------------- output


# RFC 9457 problem details, as every error of the API answers (§21). Built inline: a
# declared field named ``errors`` would shadow ``Serializer.errors``.
ProblemSerializer = inline_serializer(
    name="ProposalProblem",
    fields={
        "type": serializers.URLField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text=_("Field path (e.g. stages.0.kpis.1.target) → messages."),
        ),
    },
)


class ProposalListSerializer(serializers.ModelSerializer):
    call = serializers.IntegerField(source="call_id", read_only=True)
    title = serializers.CharField(read_only=True, help_text=_("In the request's language."))
    research_area = serializers.SerializerMethodField()
    lead_organisations = serializers.SerializerMethodField()

    class Meta:
        model = Proposal
        fields = [
            "id",
            "call",
            "state",
            "version",
            "title",
            "title_en",
            "title_ja",
            "title_ko",
            "research_area",
            "submitted_at",
            "updated_at",
            "lead_organisations",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_research_area(self, proposal: Proposal) -> str | None:
        area = proposal.research_area
        return area.code if area is not None else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_lead_organisations(self, proposal: Proposal) -> list[str]:
        # ``lead_members`` is the list view's to_attr prefetch of the lead members.
        members = getattr(proposal, "lead_members", None)
        if members is None:  # the detail prefetches all members: filter them here
            members = [m for m in proposal.members.all() if m.role in LEAD_ROLES]
        return [m.organisation.code for m in members]


class MemberSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.code", read_only=True)

    class Meta:
        model = ConsortiumMember
        fields = ["organisation", "role"]
        read_only_fields = fields


class PersonSerializer(serializers.ModelSerializer):
    user = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    organisation = serializers.CharField(source="member.organisation.code", read_only=True)

    class Meta:
        model = ProposalPerson
        fields = ["user", "username", "organisation", "role", "effort_percent"]
        read_only_fields = fields


class ConsortiumSerializer(serializers.Serializer):
    members = MemberSerializer(many=True, read_only=True)
    people = PersonSerializer(many=True, read_only=True)


class KpiSerializer(serializers.ModelSerializer):
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
        model = ProposalKPI
        fields = [
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


class StageDeliverableSerializer(serializers.ModelSerializer):
    title = serializers.CharField(
        read_only=True,
        help_text=_("In the request's language, else in any language the deliverable has."),
    )

    class Meta:
        model = ProposalDeliverable
        fields = ["title", "title_en", "title_ja", "title_ko", "kind", "due_month", "mandatory"]
        read_only_fields = fields


class TrancheSerializer(serializers.Serializer):
    JPY = serializers.IntegerField(source="planned_jpy", read_only=True)
    KRW = serializers.IntegerField(source="planned_krw", read_only=True)


class StageSerializer(serializers.ModelSerializer):
    planned_tranche = TrancheSerializer(source="*", read_only=True)
    kpis = KpiSerializer(many=True, read_only=True)
    deliverables = StageDeliverableSerializer(many=True, read_only=True)

    class Meta:
        model = ProposalStage
        # planned_jpy / planned_krw repeat the tranche in the shape PATCH takes, so a client
        # can send a stage back as it read it.
        fields = [
            "number",
            "title",
            "months",
            "deliverable",
            "planned_tranche",
            "planned_jpy",
            "planned_krw",
            "kpis",
            "deliverables",
        ]
        read_only_fields = fields


class BudgetLineSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.code", read_only=True)

    class Meta:
        model = BudgetLine
        fields = ["organisation", "category", "currency", "amount"]
        read_only_fields = fields


class BackgroundIPSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.code", read_only=True)

    class Meta:
        model = BackgroundIP
        fields = ["title", "owner", "description"]
        read_only_fields = fields


class IpPlanSerializer(serializers.Serializer):
    background_ip = BackgroundIPSerializer(many=True, read_only=True)
    licence_terms = serializers.CharField(source="ip_licence_terms", read_only=True)


class SecuritySerializer(serializers.Serializer):
    dual_use = serializers.BooleanField(read_only=True)
    controlled_categories = serializers.ListField(child=serializers.CharField(), read_only=True)
    notes = serializers.CharField(source="security_notes", read_only=True)


class AttachmentSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="original_name", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "kind", "name", "size", "sha256", "uploaded_at", "download_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, attachment: Attachment) -> str:
        path = reverse(
            "proposal-attachment",
            kwargs={"pk": attachment.proposal_id, "attachment_id": attachment.pk},
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class EndorsementSerializer(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.code", read_only=True)

    class Meta:
        model = Endorsement
        fields = ["organisation", "endorsed_at"]
        read_only_fields = fields


class ProposalDetailSerializer(ProposalListSerializer):
    abstract = serializers.CharField(read_only=True, help_text=_("In the request's language."))
    consortium = ConsortiumSerializer(source="*", read_only=True)
    stages = StageSerializer(many=True, read_only=True)
    budget = BudgetLineSerializer(source="budget_lines", many=True, read_only=True)
    ip_plan = IpPlanSerializer(source="*", read_only=True)
    security = SecuritySerializer(source="*", read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    endorsements = EndorsementSerializer(many=True, read_only=True)
    eligibility_reasons = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(ProposalListSerializer.Meta):
        fields = [
            *ProposalListSerializer.Meta.fields,
            "abstract",
            "abstract_en",
            "abstract_ja",
            "abstract_ko",
            "keywords",
            "trl_now",
            "trl_target",
            "created_at",
            "withdrawn_at",
            "consortium",
            "stages",
            "budget",
            "ip_plan",
            "security",
            "attachments",
            "endorsements",
            "eligibility_reasons",
        ]
        read_only_fields = fields


# --------------------------------------------------------------------------- input


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know, so a misspelt section is not silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: [_("Unknown field.")] for key in unknown})
        return super().to_internal_value(data)


class StrictSerializerScheme(OpenApiSerializerExtension):
    """The schema says what StrictSerializer does: no properties but the declared ones."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        # drf-spectacular makes every field of a PATCH body optional; some are not.
        required = set(schema.get("required", [])) | set(
            getattr(self.target, "always_required", ())
        )
        if required and direction == "request":
            schema["required"] = sorted(required)
        return schema


def _section_fields() -> dict[str, serializers.Field]:
    def obj(help_text: str) -> serializers.Field:
        return serializers.DictField(required=False, help_text=help_text)

    def objs(help_text: str) -> serializers.Field:
        return serializers.ListField(
            child=serializers.DictField(), required=False, help_text=help_text
        )

    return {
        "basics": obj(
            "title_en/ja/ko, abstract_en/ja/ko, research_area (code), keywords, trl_now, trl_target"
        ),
        "consortium": obj(
            "{members: [{organisation (code), role}], "
            "people: [{user (id or username), organisation (code), role, effort_percent}]}"
        ),
        "stages": objs(
            "[{title, months, deliverable, planned_jpy, planned_krw, kpis: [{code, name_en, "
            "name_ja, name_ko, unit, direction, baseline, target, weight, mandatory, "
            "aggregation, evidence, means_of_verification_en, means_of_verification_ja, "
            "means_of_verification_ko}], deliverables: [{title_en, title_ja, title_ko, kind, "
            "due_month, mandatory}]}]; each KPI is named in at least one of name_en, "
            "name_ja and name_ko; evidence is none, document or attested (a mandatory KPI "
            "needs document or attested; left out: the least allowed); a deliverable (§24) has "
            "a title in at least one language, a kind (report, dataset, software, prototype, "
            "publication, other), the month of its stage it is due in (left out: the stage's "
            "last) and mandatory (left out: true; a mandatory deliverable not accepted holds "
            "its stage's gate); the whole plan is replaced"
        ),
        "budget": objs("[{organisation (code), category, amount}]; all lines are replaced"),
        "ip_plan": obj("{background_ip: [{title, owner (code), description}], licence_terms}"),
        "security": obj("{dual_use, controlled_categories, notes}"),
    }


class SectionsSerializer(StrictSerializer):
    """Any of the sections ``proposal_update`` takes, each checked for its JSON type only."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields.update(_section_fields())
        return fields

    def sections(self) -> dict[str, Any]:
        return {k: v for k, v in self.validated_data.items() if k in SECTIONS}


class ProposalChangesSerializer(SectionsSerializer):
    """PATCH body: the version the client read, and any sections to replace."""

    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text=_(
            "The version the change is based on (or send the If-Match header); "
            "a stale version answers 409."
        ),
    )


class ProposalChangesRequestSerializer(ProposalChangesSerializer):
    """The PATCH body as published: ``version`` is required there, so a client built from
    the schema always sends it; the If-Match header alone is still understood."""

    always_required = ("version",)

    version = serializers.IntegerField(
        min_value=1,
        help_text=_(
            "The version the change is based on (If-Match may carry it as well); "
            "a stale version answers 409."
        ),
    )


class ProposalCreateSerializer(SectionsSerializer):
    """POST body: the call, and optionally any sections as PATCH takes them."""

    call = serializers.IntegerField(min_value=1, help_text=_("The id of an open call."))


class WithdrawSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class EndorseSerializer(StrictSerializer):
    organisation = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        default=None,
        help_text=_(
            "Code of the lead organisation endorsing; by default the caller's own "
            "lead organisation still to endorse."
        ),
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ReturnSerializer(StrictSerializer):
    organisation = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        default=None,
        help_text=_(
            "Code of the lead organisation returning the proposal; by default the caller's "
            "own lead organisation."
        ),
    )
    reason = serializers.CharField(
        allow_blank=True,
        help_text=_(
            "Why the proposal goes back to its principal investigators (required, at most "
            "2,000 characters; a blank reason answers 422). They are notified with it."
        ),
    )


class AttachmentUploadSerializer(serializers.Serializer):
    """Documents the multipart body of an upload; the view streams the file itself."""

    file = serializers.FileField(help_text=_("A PDF of at most 20 MB."))
    kind = serializers.ChoiceField(choices=Attachment.Kind.choices, required=False)
