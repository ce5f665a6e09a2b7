"""Projects, stages, KPIs, gates, tranches and disbursements (§6–§9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from fundapp.accounts.models import Organisation
from fundapp.fields import AmountField, index_where_set
from fundapp.kernel.approvals import DecisionState as DecisionState
from fundapp.kernel.approvals import (
    TwoPersonDecision,
    live_condition,
    two_person_constraints,
)
from fundapp.kernel.models import ResearchArea, localized
from fundapp.workflow import (
    APPLICANTS,
    FINANCE_OFFICER,
    OFFICERS,
    PARTNER,
    SYSTEM,
    Workflow,
    edges,
)

from .calls import Call
from .proposals import EvidenceLevel, KpiAggregation, KpiDirection, Proposal


class ProjectState(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    COMPLETED = "completed", _("Completed")
    TERMINATED = "terminated", _("Terminated")


# Officers suspend, resume and terminate; a gate decision (an officer's or the fund's
# automatic one) completes the project at its final gate or terminates it (§7, §8).
PROJECT_WORKFLOW = Workflow(
    name="project",
    states=ProjectState,
    refusal=_("A project in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {
                ProjectState.ACTIVE: [ProjectState.SUSPENDED],
                ProjectState.SUSPENDED: [ProjectState.ACTIVE, ProjectState.TERMINATED],
            },
            by=OFFICERS,
        ),
        *edges(
            {ProjectState.ACTIVE: [ProjectState.COMPLETED, ProjectState.TERMINATED]},
            by=OFFICERS | {SYSTEM},
        ),
    ],
)


class Project(models.Model):
    workflow: ClassVar[Workflow] = PROJECT_WORKFLOW

    proposal = models.OneToOneField(Proposal, on_delete=models.PROTECT, related_name="project")
    # Indexed by ``project_call_state_idx``, which starts with it.
    call = models.ForeignKey(
        Call, on_delete=models.PROTECT, related_name="projects", db_index=False
    )
    title_en = models.CharField(_("title (English)"), max_length=300, blank=True)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300, blank=True)
    title_ko = models.CharField(_("title (Korean)"), max_length=300, blank=True)
    research_area = models.ForeignKey(
        ResearchArea, null=True, on_delete=models.PROTECT, related_name="projects"
    )
    state = models.CharField(
        _("state"), max_length=16, choices=ProjectState.choices, default=ProjectState.ACTIVE
    )
    awarded_at = models.DateTimeField(default=timezone.now)
    started_on = models.DateField(_("start date"))
    current_stage = models.ForeignKey(
        "Stage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)
    # The plan's version (§24): 1 at award, raised by each approved amendment. Every gate
    # snapshot records the version it evaluated against.
    plan_version = models.PositiveIntegerField(_("plan version"), default=1)

    class Meta:
        ordering = ["-awarded_at", "-id"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        indexes = [
            models.Index(fields=["call", "state"], name="project_call_state_idx"),
            # The lists' order, so a page is read off the index instead of sorting them all.
            models.Index(fields=["-awarded_at", "-id"], name="project_list_order_idx"),
            models.Index(fields=["state", "-awarded_at", "-id"], name="project_state_order_idx"),
        ]
        triggers = [PROJECT_WORKFLOW.trigger("project_state_fsm")]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return localized(self, "title")


class ProjectUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)


class ProjectGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)


class ProjectOrganisation(models.Model):
    """A consortium organisation of the project, with its budget: its share of its side's
    tranches follows its share of its side's budget (§5)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="organisations")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="project_roles"
    )
    role = models.CharField(max_length=16)
    side = models.CharField(max_length=8)
    currency = models.CharField(max_length=3, blank=True)
    budget = AmountField(_("budget"))
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "organisation"], name="project_org_unique")
        ]
        # The projects of an organisation (research offices, API keys), read off the index.
        indexes = [models.Index(fields=["organisation", "project"], name="project_org_by_org_idx")]


class ProjectPerson(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="people")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="project_roles"
    )
    role = models.CharField(max_length=16)
    effort_percent = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="project_person_unique")
        ]


class StageState(models.TextChoices):
    PLANNED = "planned", _("Planned")
    ACTIVE = "active", _("Active")
    GATE_PENDING = "gate_pending", _("Gate pending")
    PASSED = "passed", _("Passed")
    CONDITIONAL = "conditional", _("Passed conditionally")
    FAILED = "failed", _("Failed")
    EXTENDED = "extended", _("Extended")


# A stage starts when its project starts or its predecessor's gate passes; its gate falls
# due (gate pending) on the gate day or when an officer evaluates early; the gate's decision
# passes, extends or fails it; a termination ends a running stage as failed (§7, §8).
# Passing with a release needs two officers of different sides unless the fund decided
# automatically (§2, §8).
STAGE_WORKFLOW = Workflow(
    name="stage",
    states=StageState,
    refusal=_("A stage in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges({StageState.PLANNED: [StageState.ACTIVE]}, by=OFFICERS | {SYSTEM}),
        # Evaluating a due gate early: officers, or the consortium (its researchers or its
        # system with the gates:write scope) where can_evaluate_gate allows it.
        *edges(
            {
                StageState.ACTIVE: [StageState.GATE_PENDING],
                StageState.EXTENDED: [StageState.GATE_PENDING],
            },
            by=OFFICERS | APPLICANTS | {SYSTEM},
        ),
        *edges(
            {
                StageState.ACTIVE: [StageState.FAILED],
                StageState.GATE_PENDING: [StageState.FAILED, StageState.EXTENDED],
                StageState.EXTENDED: [StageState.FAILED],
            },
            by=OFFICERS | {SYSTEM},
        ),
        *edges(
            {StageState.GATE_PENDING: [StageState.PASSED, StageState.CONDITIONAL]},
            by=OFFICERS | {SYSTEM},
            two_person=True,
        ),
    ],
)


class Stage(models.Model):
    workflow: ClassVar[Workflow] = STAGE_WORKFLOW

    # Indexed by ``stage_number_unique``, which starts with it.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="stages", db_index=False
    )
    number = models.PositiveSmallIntegerField()
    title = models.CharField(_("title"), max_length=300)
    months = models.PositiveSmallIntegerField()
    deliverable = models.TextField(blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=StageState.choices, default=StageState.PLANNED
    )
    started_on = models.DateField(null=True, blank=True)
    extensions_used = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["project", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="stage_number_unique"),
            # Exactly one stage of a project runs at a time (§7).
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(state__in=["active", "extended"]),
                name="stage_one_running",
            ),
        ]
        triggers = [STAGE_WORKFLOW.trigger("stage_state_fsm")]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.number} {self.title}"


class KPI(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="kpis")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="kpis")
    code = models.CharField(_("code"), max_length=40)
    name_en = models.CharField(max_length=200, blank=True)
    name_ja = models.CharField(max_length=200, blank=True)
    name_ko = models.CharField(max_length=200, blank=True)
    unit = models.CharField(max_length=40, blank=True)
    direction = models.CharField(max_length=20, choices=KpiDirection.choices)
    baseline = models.DecimalField(max_digits=20, decimal_places=6)
    target = models.DecimalField(max_digits=20, decimal_places=6)
    weight = models.DecimalField(max_digits=8, decimal_places=4)
    mandatory = models.BooleanField(default=False)
    aggregation = models.CharField(max_length=8, choices=KpiAggregation.choices)
    # Frozen at award from the proposal's stage plan (§22). KPIs of projects awarded before
    # evidence levels existed are ``none``: their gates count what they counted before.
    means_of_verification_en = models.TextField(blank=True)
    means_of_verification_ja = models.TextField(blank=True)
    means_of_verification_ko = models.TextField(blank=True)
    evidence = models.CharField(
        max_length=8, choices=EvidenceLevel.choices, default=EvidenceLevel.NONE
    )

    class Meta:
        ordering = ["stage__number", "id"]
        verbose_name = "KPI"
        constraints = [
            models.UniqueConstraint(fields=["project", "code"], name="kpi_code_unique_in_project")
        ]

    @property
    def name(self) -> str:
        return localized(self, "name")

    @property
    def means_of_verification(self) -> str:
        return localized(self, "means_of_verification")


class MeasurementSource(models.TextChoices):
    BROWSER = "browser", _("Browser")
    API = "api", _("API")
    IMPORT = "import", _("CSV import")


class Measurement(models.Model):
    # Both are indexed by the composite indexes below, which start with them.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="measurements", db_index=False
    )
    kpi = models.ForeignKey(
        KPI, on_delete=models.PROTECT, related_name="measurements", db_index=False
    )
    value = models.DecimalField(_("value"), max_digits=20, decimal_places=6)
    measured_at = models.DateTimeField(_("measured at"))
    note = models.TextField(_("evidence note"), blank=True)
    source = models.CharField(max_length=8, choices=MeasurementSource.choices)
    created_at = models.DateTimeField(default=timezone.now)
    # Each row has one author, a person or an API key, and few are rejected: the actors
    # are indexed only where set (``index_where_set``).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    created_by_api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    rejection_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-measured_at", "-id"]
        indexes = [
            models.Index(fields=["kpi", "measured_at"], name="measurement_kpi_time_idx"),
            models.Index(fields=["project", "-id"], name="measurement_project_idx"),
            models.Index(
                fields=["project", "-measured_at", "-id"], name="measurement_project_time_idx"
            ),
            models.Index(fields=["kpi", "-id"], name="measurement_kpi_id_idx"),
            index_where_set("created_by", "measurement_created_by_idx"),
            index_where_set("created_by_api_key", "measurement_created_key_idx"),
            index_where_set("rejected_by", "measurement_rejected_by_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="measurement_no_delete", operation=pgtrigger.Delete),
            # Only the rejection columns may change after a measurement is recorded.
            pgtrigger.Protect(
                name="measurement_facts_immutable",
                operation=pgtrigger.Update,
                condition=(
                    pgtrigger.AnyChange(
                        "value", "measured_at", "kpi", "project", "source", "note", "created_at"
                    )
                ),
            ),
        ]


class MeasurementEvidence(models.Model):
    """One evidence file of a measurement (§22): stored once, outside the web root, with the
    SHA-256 of its bytes; never changed or removed (the measurement's audit event records the
    hash). A measurement may carry several."""

    measurement = models.ForeignKey(
        Measurement, on_delete=models.PROTECT, related_name="evidence_files"
    )
    name = models.CharField(_("file name"), max_length=255)
    storage = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["measurement_id", "id"]
        indexes = [
            # Shared files between KPIs (§22's anomaly flag) are found by hash.
            models.Index(fields=["sha256"], name="measurement_evidence_hash_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="measurement_evidence_no_delete", operation=pgtrigger.Delete),
            pgtrigger.Protect(name="measurement_evidence_immutable", operation=pgtrigger.Update),
        ]

    def __str__(self) -> str:
        return f"{self.measurement_id}: {self.name}"

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


class EvidenceUpload(models.Model):
    """An evidence file uploaded ahead of the measurement it will belong to (§14, §22: "by
    reference"): checked and stored like any evidence file, held for its uploader alone, and
    taken over by the measurement that names it (the row then goes; the stored file stays,
    now a ``MeasurementEvidence``). Unreferenced uploads expire (``evidence_uploads_expire``)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("file name"), max_length=255)
    storage = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    uploaded_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["expires_at"], name="evidence_upload_expiry_idx")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(uploaded_by__isnull=False, uploaded_by_api_key__isnull=True)
                    | models.Q(uploaded_by__isnull=True, uploaded_by_api_key__isnull=False)
                ),
                name="evidence_upload_one_uploader",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ExclusionReason(models.TextChoices):
    """Why a gate's snapshot left a measurement out (§22), as the reader is told it; the
    values are ``projects.rules.gates.EXCLUSION_REASONS``."""

    REJECTED = "rejected", _("A fund officer rejected it.")
    OUTSIDE_WINDOW = "outside_window", _("It was measured outside the stage's window.")
    DISPUTED = "disputed", _("An independent verifier disputed it.")
    NOT_ATTESTED = (
        "not_attested",
        _(
            "No independent verifier has attested it, and this KPI counts only attested "
            "measurements."
        ),
    )
    NO_EVIDENCE = (
        "no_evidence",
        _("It has no evidence file, and this KPI counts only measurements with one."),
    )


class AnomalyKind(models.TextChoices):
    """The kinds of anomaly flag on a gate (§22), as the reader is told them; the values are
    ``projects.rules.gates.FLAG_KINDS``."""

    LATE_DECISIVE = (
        "late_decisive",
        _("Entered in the last 7 days before the cutoff, and the KPI is met only with it."),
    )
    AT_TARGET = "at_target", _("The value that decides the KPI is exactly its target.")
    JUMP = (
        "jump",
        _("The value jumps more than 3 median absolute deviations from the KPI's earlier values."),
    )
    REENTERED_AFTER_REJECTION = (
        "reentered_after_rejection",
        _("The same value was entered again after a fund officer rejected it."),
    )
    SHARED_EVIDENCE = (
        "shared_evidence",
        _("The same evidence file (same SHA-256) backs a measurement of another KPI."),
    )


class GateState(models.TextChoices):
    PENDING = "pending", _("Pending")
    EVALUATED = "evaluated", _("Evaluated")
    DECIDED = "decided", _("Decided")


# Evaluated when a snapshot exists, decided by a release or a termination, back to pending
# (a new round) by an extension (§8).
GATE_WORKFLOW = Workflow(
    name="gate",
    states=GateState,
    refusal=_("A gate in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        # Evaluating again before a decision keeps it evaluated with a newer snapshot.
        *edges(
            {GateState.PENDING: [GateState.EVALUATED], GateState.EVALUATED: [GateState.EVALUATED]},
            by=OFFICERS | APPLICANTS | {SYSTEM},
        ),
        *edges(
            {GateState.EVALUATED: [GateState.DECIDED, GateState.PENDING]}, by=OFFICERS | {SYSTEM}
        ),
    ],
)


class Gate(models.Model):
    workflow: ClassVar[Workflow] = GATE_WORKFLOW

    stage = models.OneToOneField(Stage, on_delete=models.CASCADE, related_name="gate")
    due_on = models.DateField(_("gate day"))
    state = models.CharField(
        _("state"), max_length=16, choices=GateState.choices, default=GateState.PENDING
    )
    round = models.PositiveSmallIntegerField(default=1, help_text=_("Raised by each extension."))

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(fields=["state", "due_on"], name="gate_state_due_idx"),
            models.Index(fields=["due_on", "id"], name="gate_list_order_idx"),
        ]
        triggers = [GATE_WORKFLOW.trigger("gate_state_fsm")]


class GateOutcome(models.TextChoices):
    PASS = "pass", _("Pass")
    CONDITIONAL = "conditional", _("Conditional")
    FAIL = "fail", _("Fail")


# The origin of the snapshots' times, stored as integer microseconds since the epoch.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class JSONTextField(models.JSONField):
    """A JSON document kept as the text written (PostgreSQL ``json``, not ``jsonb``), for
    documents written once and read whole, such as a gate snapshot's inputs (§19): storing
    ``json`` only checks the text's syntax, where ``jsonb`` turns every value into its
    binary form (two to three times the server's time for a batch of snapshots).

    ``json`` has no equality, containment or key-existence operator and no GIN index:
    nothing may filter on such a column, compare it, or put it under ``DISTINCT``,
    ``UNION`` or ``GROUP BY`` (``DISTINCT ON`` other columns is fine). Objects read back
    with their keys in the order written (``jsonb`` orders them shortest first)."""

    def db_type(self, connection: Any) -> str:
        return "json"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # psycopg decodes ``json`` itself; Django has it leave only ``jsonb`` as text.
        if not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


def _in_jsonb_key_order(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its keys in ``jsonb``'s order (shorter first, then by their UTF-8
    bytes), the order in which snapshots stored as ``jsonb`` read back."""
    return dict(sorted(record.items(), key=lambda item: (len(item[0].encode()), item[0])))


class GateEvaluation(models.Model):
    """An immutable snapshot of one evaluation (§8)."""

    # Indexed with the round (``gate_evaluation_round_idx``), which serves the gate alone too.
    gate = models.ForeignKey(
        Gate, on_delete=models.PROTECT, related_name="evaluations", db_index=False
    )
    round = models.PositiveSmallIntegerField()
    evaluated_at = models.DateTimeField(default=timezone.now)
    as_of = models.DateField()
    window_start = models.DateTimeField()
    cutoff = models.DateTimeField()
    score = models.DecimalField(max_digits=8, decimal_places=4)
    outcome = models.CharField(max_length=12, choices=GateOutcome.choices)
    # The project's plan version the KPIs were taken from (§24); snapshots written before
    # amendments existed evaluated version 1.
    plan_version = models.PositiveIntegerField(_("plan version"), default=1)
    policy = models.JSONField()
    # Written once by the evaluation and read whole, never queried into: kept as the JSON
    # text written (``json``, compressed with lz4 where the server has it).
    inputs = JSONTextField(help_text=_("Measurement ids and values used."))
    kpi_results = JSONTextField()
    # The anomaly flags of the evaluation (§22): ``{"kind", "kpi_id", "measurement_ids",
    # "detail"}`` each (``projects.rules.gates.AnomalyFlag``); any flag keeps the gate from
    # being released automatically.
    anomaly_flags = models.JSONField(default=list, blank=True)
    # Indexed where set (``Meta.indexes``): the scheduler's snapshots, most of them, have
    # neither and add no index entry.
    evaluated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    evaluated_by_api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )

    def counted_measurements(self) -> list[dict[str, Any]]:
        """Every measurement the snapshot counted, as ``{"id", "kpi_id", "value",
        "measured_at"}`` (value as decimal text, time in UTC ISO 8601), in ``(measured_at,
        id)`` order.

        Snapshots store them per KPI as parallel arrays (``inputs.kpis[].measurements``),
        the times as integer microseconds since the epoch (``measured_at_us``); snapshots
        written before that hold the times as ISO 8601 text (``measured_at``), and older
        ones every counted measurement as one list under ``inputs.measurements``. All read
        back the same."""
        inputs = self.inputs or {}
        if isinstance(inputs, dict) and isinstance(inputs.get("measurements"), list):
            return list(inputs["measurements"])
        rows = []
        for kpi in inputs.get("kpis", []) if isinstance(inputs, dict) else []:
            counted = kpi.get("measurements") or {}
            if "measured_at_us" in counted:
                times = [_EPOCH + timedelta(microseconds=us) for us in counted["measured_at_us"]]
            else:
                times = [
                    datetime.fromisoformat(at).astimezone(UTC)
                    for at in counted.get("measured_at", [])
                ]
            for measurement_id, value, at in zip(
                counted.get("ids", []), counted.get("values", []), times, strict=True
            ):
                rows.append((at, measurement_id, kpi["id"], value))
        rows.sort(key=lambda row: (row[0], row[1]))
        return [
            {"id": m_id, "kpi_id": kpi_id, "value": value, "measured_at": at.isoformat()}
            for at, m_id, kpi_id, value in rows
        ]

    def excluded_measurements(self) -> list[dict[str, Any]]:
        """Every measurement of the stage's KPIs the snapshot left out, and why (§22), as
        ``{"id", "kpi_id", "value", "measured_at", "reason"}`` (``reason`` one of
        ``projects.rules.gates.EXCLUSION_REASONS``), in ``(measured_at, id)`` order.
        Snapshots written before evidence levels list none; the time is stored as integer
        microseconds since the epoch (``measured_at_us``), or as ISO 8601 text
        (``measured_at``) in snapshots written before that."""
        inputs = self.inputs if isinstance(self.inputs, dict) else {}
        rows = []
        for kpi in inputs.get("kpis", []):
            for left_out in kpi.get("excluded") or []:
                if "measured_at_us" in left_out:
                    at = _EPOCH + timedelta(microseconds=left_out["measured_at_us"])
                else:
                    at = datetime.fromisoformat(left_out["measured_at"]).astimezone(UTC)
                rows.append((at, left_out["id"], kpi["id"], left_out["value"], left_out["reason"]))
        rows.sort(key=lambda row: (row[0], row[1]))
        return [
            {
                "id": m_id,
                "kpi_id": kpi_id,
                "value": value,
                "measured_at": at.isoformat(),
                "reason": reason,
            }
            for at, m_id, kpi_id, value, reason in rows
        ]

    @property
    def published_inputs(self) -> dict[str, Any]:
        """The inputs as the API publishes them (§21): the KPIs as evaluated, every
        counted measurement in one list (``counted_measurements``) and every one left out
        with its reason in another (``excluded_measurements``, §22)."""
        inputs = self.inputs if isinstance(self.inputs, dict) else {}
        return {
            # Keys in the order of snapshots stored as ``jsonb``, whichever way this one is.
            "kpis": [
                _in_jsonb_key_order(
                    {
                        key: value
                        for key, value in kpi.items()
                        if key not in ("measurements", "excluded")
                    }
                )
                for kpi in inputs.get("kpis", [])
            ],
            "measurements": self.counted_measurements(),
            "excluded": self.excluded_measurements(),
        }

    class Meta:
        ordering = ["-evaluated_at", "-id"]
        indexes = [
            # A gate's snapshots, and whether it has one in a round (a batch's check before
            # evaluating, one probe per gate: ``projects.services.gates``).
            models.Index(fields=["gate", "round"], name="gate_evaluation_round_idx"),
            index_where_set("evaluated_by", "gate_evaluation_by_idx"),
            index_where_set("evaluated_by_api_key", "gate_evaluation_by_key_idx"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="gate_evaluation_immutable", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]


class GateDecisionKind(models.TextChoices):
    RELEASE = "release", _("Release")
    RELEASE_REDUCED = "release_reduced", _("Release reduced")
    EXTEND = "extend", _("Extend")
    TERMINATE = "terminate", _("Terminate")


class GateDecision(TwoPersonDecision):
    """A gate's decision for one round (§8). Automatic decisions have no officer; the others
    need two fund officers, one from each side (§2), which the database also enforces."""

    audit_kind = "gate_decision"

    # An automatic decision has no officer.
    first_officer = models.ForeignKey(  # type: ignore[assignment]
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    first_side = models.CharField(max_length=2, blank=True)
    gate = models.ForeignKey(Gate, on_delete=models.PROTECT, related_name="decisions")
    round = models.PositiveSmallIntegerField()
    evaluation = models.ForeignKey(
        GateEvaluation, on_delete=models.PROTECT, related_name="decisions"
    )
    kind = models.CharField(_("decision"), max_length=16, choices=GateDecisionKind.choices)
    automatic = models.BooleanField(default=False)
    override = models.BooleanField(default=False)
    justification = models.TextField(_("justification"), blank=True)
    extension_months = models.PositiveSmallIntegerField(null=True, blank=True)
    multiplier = models.DecimalField(max_digits=14, decimal_places=10, null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-first_at", "-id"]
        constraints = [
            *two_person_constraints("gate_decision", exempt=Q(automatic=True)),
            models.CheckConstraint(
                condition=Q(automatic=True) | Q(first_officer__isnull=False),
                name="gate_decision_officer_unless_automatic",
            ),
            models.UniqueConstraint(
                fields=["gate", "round"],
                condition=live_condition(),
                name="gate_decision_one_live_per_round",
            ),
        ]


class TrancheState(models.TextChoices):
    PLANNED = "planned", _("Planned")
    DECIDED = "decided", _("Decided")
    RELEASED = "released", _("Released")
    CANCELLED = "cancelled", _("Cancelled")


# A gate's decision fixes a planned tranche (decided); the release task pays it out once
# (released); a termination cancels what is not yet released (§7, §9).
TRANCHE_WORKFLOW = Workflow(
    name="tranche",
    states=TrancheState,
    refusal=_("A tranche in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {
                TrancheState.PLANNED: [TrancheState.DECIDED, TrancheState.CANCELLED],
                TrancheState.DECIDED: [TrancheState.CANCELLED],
            },
            by=OFFICERS | {SYSTEM},
        ),
        *edges({TrancheState.DECIDED: [TrancheState.RELEASED]}, by=OFFICERS | {SYSTEM}),
    ],
)


class Tranche(models.Model):
    workflow: ClassVar[Workflow] = TRANCHE_WORKFLOW

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="tranches")
    # Indexed by ``tranche_one_per_stage_side``, which starts with it.
    stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, related_name="tranches", db_index=False
    )
    side = models.CharField(max_length=2)
    currency = models.CharField(max_length=3)
    planned = AmountField(_("planned"))
    multiplier = models.DecimalField(max_digits=14, decimal_places=10, null=True, blank=True)
    released = models.BigIntegerField(null=True, blank=True)
    from_reserve = models.BigIntegerField(default=0)
    returned_to_pool = models.BigIntegerField(default=0)
    state = models.CharField(
        _("state"), max_length=12, choices=TrancheState.choices, default=TrancheState.PLANNED
    )
    decision = models.ForeignKey(
        GateDecision, null=True, blank=True, on_delete=models.PROTECT, related_name="tranches"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    ledger_transaction = models.OneToOneField(
        "ledger.Transaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tranche",
    )

    class Meta:
        ordering = ["project", "stage__number", "side"]
        indexes = [models.Index(fields=["state"], name="tranche_state_idx")]
        triggers = [TRANCHE_WORKFLOW.trigger("tranche_state_fsm")]
        constraints = [
            models.UniqueConstraint(fields=["stage", "side"], name="tranche_one_per_stage_side"),
            models.CheckConstraint(
                condition=~Q(state="released")
                | Q(released__isnull=False, ledger_transaction__isnull=False),
                name="tranche_released_is_posted",
            ),
        ]


class DisbursementState(models.TextChoices):
    PAYABLE = "payable", _("Payable")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")


# A payable disbursement is paid (finance confirms, in the browser or from its system) or
# cancelled (clawed back by a termination, §7).
DISBURSEMENT_WORKFLOW = Workflow(
    name="disbursement",
    states=DisbursementState,
    refusal=_("A disbursement in state “%(state)s” cannot become “%(target)s”."),
    edges=[
        *edges(
            {DisbursementState.PAYABLE: [DisbursementState.PAID]},
            by=OFFICERS | {FINANCE_OFFICER, PARTNER},
        ),
        *edges({DisbursementState.PAYABLE: [DisbursementState.CANCELLED]}, by=OFFICERS | {SYSTEM}),
    ],
)


class Disbursement(models.Model):
    """One organisation's part of a released tranche, payable until finance confirms payment."""

    workflow: ClassVar[Workflow] = DISBURSEMENT_WORKFLOW

    tranche = models.ForeignKey(Tranche, on_delete=models.PROTECT, related_name="disbursements")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="disbursements"
    )
    currency = models.CharField(max_length=3)
    amount = AmountField(_("amount"))
    state = models.CharField(
        _("state"),
        max_length=12,
        choices=DisbursementState.choices,
        default=DisbursementState.PAYABLE,
    )
    paid_on = models.DateField(null=True, blank=True)
    reference = models.CharField(_("payment reference"), max_length=100, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ledger_transaction = models.OneToOneField(
        "ledger.Transaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="disbursement",
    )

    class Meta:
        ordering = ["tranche", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tranche", "organisation"], name="disbursement_unique"),
            models.CheckConstraint(
                condition=~Q(state="paid")
                | Q(ledger_transaction__isnull=False, paid_on__isnull=False),
                name="disbursement_paid_is_posted",
            ),
        ]
        triggers = [DISBURSEMENT_WORKFLOW.trigger("disbursement_state_fsm")]


__all__ = [
    "KPI",
    "DecisionState",
    "Disbursement",
    "DISBURSEMENT_WORKFLOW",
    "DisbursementState",
    "GATE_WORKFLOW",
    "Gate",
    "GateDecision",
    "GateDecisionKind",
    "GateEvaluation",
    "GateOutcome",
    "GateState",
    "Measurement",
    "MeasurementSource",
    "PROJECT_WORKFLOW",
    "Project",
    "ProjectGroupObjectPermission",
    "ProjectOrganisation",
    "ProjectPerson",
    "ProjectState",
    "ProjectUserObjectPermission",
    "STAGE_WORKFLOW",
    "Stage",
    "StageState",
    "TRANCHE_WORKFLOW",
    "Tranche",
    "TrancheState",
]
