"""IP assets (§10.1): every result has exactly one owner organisation."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Organisation
from fundapp.kernel.models import localized
from fundapp.workflow import APPLICANTS, OFFICERS, Workflow, edges


class AssetKind(models.TextChoices):
    PATENT = "patent", _("Patent")
    PATENT_APPLICATION = "patent_application", _("Patent application")
    SOFTWARE = "software", _("Software")
    DATASET = "dataset", _("Dataset")
    KNOW_HOW = "know_how", _("Know-how")
    DESIGN = "design", _("Design")


class AssetStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    FILED = "filed", _("Filed")
    GRANTED = "granted", _("Granted")
    LAPSED = "lapsed", _("Lapsed")


# draft → filed → granted → lapsed; a draft or a filed application may also lapse
# (abandoned before filing, or withdrawn before grant). Lapsed is final. The owner's
# people (and their systems) and fund officers change it (§10.1).
ASSET_WORKFLOW = Workflow(
    name="asset",
    states=AssetStatus,
    field="status",
    refusal=_("An asset that is “%(state)s” cannot become “%(target)s”."),
    edges=edges(
        {
            AssetStatus.DRAFT: [AssetStatus.FILED, AssetStatus.LAPSED],
            AssetStatus.FILED: [AssetStatus.GRANTED, AssetStatus.LAPSED],
            AssetStatus.GRANTED: [AssetStatus.LAPSED],
        },
        by=APPLICANTS | OFFICERS,
    ),
)


class IPAsset(models.Model):
    workflow: ClassVar[Workflow] = ASSET_WORKFLOW

    kind = models.CharField(_("kind"), max_length=24, choices=AssetKind.choices)
    title_en = models.CharField(_("title (English)"), max_length=300)
    title_ja = models.CharField(_("title (Japanese)"), max_length=300, blank=True)
    title_ko = models.CharField(_("title (Korean)"), max_length=300, blank=True)
    # One owner, never co-owned (§0, §10.1): a single foreign key, not a list.
    owner = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="ip_assets", verbose_name=_("owner")
    )
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="results",
        verbose_name=_("project"),
    )
    is_background = models.BooleanField(_("background IP"), default=False)
    inventors = ArrayField(
        models.CharField(max_length=200),
        default=list,
        blank=True,
        verbose_name=_("inventors / authors"),
    )
    jurisdiction = models.CharField(_("jurisdiction"), max_length=2, blank=True)
    filing_number = models.CharField(_("filing number"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=AssetStatus.choices, default=AssetStatus.DRAFT
    )
    research_area = models.ForeignKey(
        "kernel.ResearchArea", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("IP asset")
        verbose_name_plural = _("IP assets")
        indexes = [
            models.Index(fields=["owner", "kind"], name="ipasset_owner_kind_idx"),
            # The registry's order (newest first), read backwards.
            models.Index(fields=["created_at", "id"], name="ipasset_created_idx"),
        ]
        triggers = [ASSET_WORKFLOW.trigger("ipasset_status_fsm")]
        constraints = [
            # A result of a project, or background IP: exactly one of the two.
            models.CheckConstraint(
                condition=models.Q(is_background=True, project__isnull=True)
                | models.Q(is_background=False, project__isnull=False),
                name="ipasset_project_or_background",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return localized(self, "title")
