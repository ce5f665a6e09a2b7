"""Forms of the proposal wizard (§5, §15).

The forms only carry what the person typed; every rule lives in the proposal services,
which answer with messages keyed by field path (``stages.0.kpis.1.target``). Each wizard
step turns its forms into the payload of one service section and maps those paths back
onto the form, formset row or nested row the value came from, so each message shows
beside its input. Whatever a step cannot place goes to the top of the page.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import reduce
from operator import or_
from typing import Any, ClassVar

from django import forms
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import Organisation, User
from projects.models import (
    Attachment,
    BudgetCategory,
    ConsortiumRole,
    DeliverableKind,
    EvidenceLevel,
    KpiAggregation,
    KpiDirection,
    PersonRole,
    Proposal,
    ResearchArea,
)

Choices = list[tuple[str, str]]
BLANK: tuple[str, str] = ("", "—")
NUMERIC = {"inputmode": "numeric", "autocomplete": "off", "class": "num"}
DECIMAL = {"inputmode": "decimal", "autocomplete": "off", "class": "num"}


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Step:
    slug: str
    label: str | Promise


STEPS: tuple[Step, ...] = (
    Step("basics", _("Basics")),
    Step("consortium", _("Consortium")),
    Step("stages", _("Stage plan & KPIs")),
    Step("budget", _("Budget")),
    Step("ip", _("IP plan")),
    Step("security", _("Security")),
    Step("attachments", _("Attachments")),
    Step("review", _("Review & submit")),
)
STEP_SLUGS = tuple(s.slug for s in STEPS)

# The first part of a service field path → the step where that value is entered.
_FIELD_STEPS = {
    "research_area": "basics",
    "keywords": "basics",
    "trl_now": "basics",
    "trl_target": "basics",
    "members": "consortium",
    "people": "consortium",
    "stages": "stages",
    "budget": "budget",
    "background_ip": "ip",
    "licence_terms": "ip",
    "dual_use": "security",
    "controlled_categories": "security",
    "security_notes": "security",
    "attachments": "attachments",
    "file": "attachments",
    "call": "review",
}


def step_for_field(path: str) -> str | None:
    """The wizard step where the value behind a service field path is entered."""
    head = path.split(".", 1)[0]
    if head.startswith(("title_", "abstract_")):
        return "basics"
    return _FIELD_STEPS.get(head)


def next_step(slug: str) -> str:
    index = STEP_SLUGS.index(slug)
    return STEP_SLUGS[min(index + 1, len(STEP_SLUGS) - 1)]


# --------------------------------------------------------------------------- fields


def _text(label: Any, *, rows: int = 0, attrs: dict[str, str] | None = None) -> Any:
    widget: forms.Widget = (
        forms.Textarea(attrs={"rows": str(rows), **(attrs or {})})
        if rows
        else forms.TextInput(attrs=attrs or {})
    )
    # No length or required checks here: the service owns them and names the field.
    return forms.CharField(label=label, required=False, strip=False, widget=widget)


def _choice(label: Any, choices: Any = (), initial: str = "") -> forms.ChoiceField:
    return forms.ChoiceField(label=label, required=False, choices=choices, initial=initial)


def _plain_decimal(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return text


def _grouped(amount: int | None) -> str:
    return "" if amount is None else f"{amount:,}"


def _number(value: str) -> str:
    """People write 12,000,000 or 1,234.5; the services want digits."""
    return value.strip().replace(",", "").replace("，", "")


def organisation_choices(orgs: Iterable[Organisation]) -> Choices:
    return [BLANK, *((o.code, f"{o.name} ({o.code})") for o in orgs)]


def user_choices(users: Iterable[User]) -> Choices:
    out = [BLANK]
    for u in users:
        label = str(u)
        out.append((u.username, label if label == u.username else f"{label} ({u.username})"))
    return out


def currency_for_country(country: str) -> str:
    return {"JP": "JPY", "KR": "KRW"}.get(country, "")


class VersionForm(forms.Form):
    """The draft version the person started from; a stale one is refused with 409."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


# --------------------------------------------------------------------------- rows


class RowForm(forms.Form):
    """A formset row; ``has_content`` tells an untouched spare row from a real one."""

    def has_content(self) -> bool:
        return self.has_changed()


def _rows_included(formset: forms.BaseFormSet) -> list[RowForm]:
    """The rows to send: not marked for removal, and not a spare row left blank."""
    if not formset.is_bound:
        return []
    initial = formset.initial_form_count()
    rows: list[RowForm] = []
    for index, form in enumerate(formset.forms):
        if formset.can_delete and form.cleaned_data.get("DELETE"):
            continue
        if index >= initial and not form.has_content():
            continue
        rows.append(form)
    return rows


def _place_on_form(form: forms.Form, name: str | None, messages: Sequence[str]) -> None:
    target = name if name in form.fields else None
    if not form.is_bound and not hasattr(form, "cleaned_data"):
        # A form showing the saved draft explains the rules it breaks (``show_problems``);
        # ``add_error`` expects the cleaned data an unbound form never gets.
        form.cleaned_data = {}
    for message in messages:
        form.add_error(target, str(message))


@dataclass
class RowSet:
    """A formset and the rows that went to the service, in the order they were sent."""

    formset: forms.BaseFormSet
    sent: list[RowForm] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def collect(self) -> list[RowForm]:
        self.sent = _rows_included(self.formset)
        return self.sent

    def rows(self) -> list[RowForm]:
        """The rows in the order the service numbers them: those sent, or, for a formset
        showing the saved draft, its saved rows."""
        if self.formset.is_bound:
            return self.sent
        return list(self.formset.forms[: self.formset.initial_form_count()])

    def place(self, parts: Sequence[str], messages: Sequence[str]) -> bool:
        """Put messages for ``<index>.<field>`` on that row; none for the whole list."""
        if not parts:
            self.errors.extend(str(m) for m in messages)
            return True
        rows = self.rows()
        if not parts[0].isdigit() or int(parts[0]) >= len(rows):
            return False
        form = rows[int(parts[0])]
        rest = list(parts[1:])
        placer = getattr(form, "place_nested", None)
        if placer is not None and placer(rest, messages):
            return True
        _place_on_form(form, rest[0] if rest else None, messages)
        return True


# --------------------------------------------------------------------------- wizard step


class WizardStep(ABC):
    """The forms of one wizard step, bound to the draft or to what was posted."""

    slug: ClassVar[str]
    section: ClassVar[str]
    template_name: ClassVar[str]

    def __init__(self, proposal: Proposal, data: Any = None) -> None:
        self.proposal = proposal
        self.data = data
        self.is_bound = data is not None
        self.top_errors: list[str] = []

    # Subclasses fill these in.
    def single_forms(self) -> list[forms.Form]:
        return []

    def rowsets(self) -> list[RowSet]:
        return []

    @abstractmethod
    def payload(self) -> Any:
        """The section as the proposal service takes it."""

    @abstractmethod
    def place(self, parts: list[str], messages: Sequence[str]) -> bool:
        """Put the service's messages for a field path on the matching form field."""

    def context(self) -> dict[str, Any]:
        return {}

    def is_valid(self) -> bool:
        valid = all(f.is_valid() for f in self.single_forms())
        for rowset in self.rowsets():
            if not rowset.formset.is_bound:
                continue
            if not rowset.formset.is_valid():
                valid = False
                rowset.errors.extend(str(e) for e in rowset.formset.non_form_errors())
        return valid

    def add_errors(self, errors: dict[str, list[Any]]) -> None:
        for path, messages in errors.items():
            texts = [str(m) for m in messages]
            if not self.place(path.split("."), texts):
                self.top_errors.extend(texts)

    def show_problems(self, problems: dict[str, list[Any]]) -> list[str]:
        """Put the saved draft's problems (the eligibility rules it still breaks, §6) beside
        the fields they concern; returns those that belong to no field of the step."""
        elsewhere: list[str] = []
        for path, messages in problems.items():
            texts = [str(m) for m in messages]
            if not self.place(path.split("."), texts):
                elsewhere.extend(texts)
        return elsewhere

    @property
    def has_errors(self) -> bool:
        if self.top_errors:
            return True
        if any(f.errors for f in self.single_forms()):
            return True
        return any(rowset_has_errors(r) for r in self.rowsets())


def rowset_has_errors(rowset: RowSet) -> bool:
    if rowset.errors:
        return True
    for form in rowset.formset.forms:
        if form.errors:
            return True
        nested = getattr(form, "kpis", None)
        if nested is not None and rowset_has_errors(nested):
            return True
    return False


def _formset(
    form_class: type[forms.Form],
    *,
    prefix: str,
    data: Any,
    initial: list[dict[str, Any]],
    extra: int = 1,
    form_kwargs: dict[str, Any] | None = None,
) -> forms.BaseFormSet:
    formset_class = forms.formset_factory(form_class, extra=extra, can_delete=True)
    if data is not None:
        return formset_class(data, prefix=prefix, form_kwargs=form_kwargs or {})
    return formset_class(initial=initial, prefix=prefix, form_kwargs=form_kwargs or {})


# --------------------------------------------------------------------------- basics


class BasicsForm(forms.Form):
    title_en = _text(_("Title (English)"))
    title_ja = _text(_("Title (Japanese)"))
    title_ko = _text(_("Title (Korean)"))
    abstract_en = _text(_("Abstract (English)"), rows=5)
    abstract_ja = _text(_("Abstract (Japanese)"), rows=5)
    abstract_ko = _text(_("Abstract (Korean)"), rows=5)
    research_area = _choice(_("Research area"))
    keywords = _text(_("Keywords"))
    trl_now = _choice(_("TRL now"), [BLANK, *((str(i), str(i)) for i in range(1, 10))])
    trl_target = _choice(_("TRL target"), [BLANK, *((str(i), str(i)) for i in range(1, 10))])

    def __init__(self, *args: Any, areas: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["research_area"].choices = areas  # type: ignore[attr-defined]
        self.fields["keywords"].help_text = _("Separate keywords with commas.")
        self.fields["title_en"].help_text = _(
            "A title in at least one language; ideally all three."
        )


def call_area_choices(proposal: Proposal) -> Choices:
    """The call's research areas and every area below them (dotted codes)."""
    codes = list(proposal.call.research_areas.values_list("code", flat=True))
    if not codes:
        return [BLANK]
    lookup = reduce(or_, (Q(code=c) | Q(code__startswith=c + ".") for c in codes))
    areas = ResearchArea.objects.filter(lookup).order_by("code")
    return [BLANK, *((a.code, f"{a.name} ({a.code})") for a in areas)]


class BasicsStep(WizardStep):
    slug = "basics"
    section = "basics"
    template_name = "projects/proposals/step_basics.html"

    def __init__(self, proposal: Proposal, data: Any = None) -> None:
        super().__init__(proposal, data)
        p = proposal
        initial = {
            **{f"title_{lang}": getattr(p, f"title_{lang}") for lang in ("en", "ja", "ko")},
            **{f"abstract_{lang}": getattr(p, f"abstract_{lang}") for lang in ("en", "ja", "ko")},
            "research_area": p.research_area.code if p.research_area else "",
            "keywords": ", ".join(p.keywords),
            "trl_now": str(p.trl_now or ""),
            "trl_target": str(p.trl_target or ""),
        }
        self.form = BasicsForm(data, initial=initial, areas=call_area_choices(proposal))

    def single_forms(self) -> list[forms.Form]:
        return [self.form]

    def payload(self) -> dict[str, Any]:
        values = dict(self.form.cleaned_data)
        values["research_area"] = values["research_area"] or None
        return values

    def place(self, parts: list[str], messages: Sequence[str]) -> bool:
        if parts[0] in self.form.fields:
            _place_on_form(self.form, parts[0], messages)
            return True
        return False

    def context(self) -> dict[str, Any]:
        return {"form": self.form}


# --------------------------------------------------------------------------- consortium


class MemberForm(RowForm):
    organisation = _choice(_("Organisation"))
    role = _choice(_("Role"), [BLANK, *ConsortiumRole.choices])

    def __init__(self, *args: Any, organisations: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = organisations  # type: ignore[attr-defined]


class PersonForm(RowForm):
    user = _choice(_("Person"))
    organisation = _choice(_("Organisation"))
    role = _choice(_("Role"), [BLANK, *PersonRole.choices])
    effort_percent = _text(_("Effort (%)"), attrs={**NUMERIC, "size": "4"})

    def __init__(self, *args: Any, users: Choices, organisations: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].choices = users  # type: ignore[attr-defined]
        self.fields["organisation"].choices = organisations  # type: ignore[attr-defined]


def _posted_values(data: Any, prefix: str, name: str) -> list[str]:
    if data is None:
        return []
    return [
        str(v)
        for k, v in data.items()
        if k.startswith(prefix + "-") and k.endswith("-" + name) and v
    ]


class ConsortiumStep(WizardStep):
    slug = "consortium"
    section = "consortium"
    template_name = "projects/proposals/step_consortium.html"

    def __init__(self, proposal: Proposal, data: Any = None) -> None:
        super().__init__(proposal, data)
        members = list(proposal.members.select_related("organisation"))
        people = list(proposal.people.select_related("user", "member__organisation"))
        all_orgs = list(Organisation.objects.order_by("code"))
        # People can come from the saved consortium and from organisations just added.
        codes = {m.organisation.code for m in members} | set(
            _posted_values(data, "members", "organisation")
        )
        consortium_orgs = [o for o in all_orgs if o.code in codes]
        named = {p.user_id for p in people}
        users = (
            User.objects.filter(
                Q(is_active=True, memberships__organisation__code__in=codes) | Q(pk__in=named)
            )
            .distinct()
            .order_by("username")
        )
        self.members = RowSet(
            _formset(
                MemberForm,
                prefix="members",
                data=data,
                initial=[{"organisation": m.organisation.code, "role": m.role} for m in members],
                form_kwargs={"organisations": organisation_choices(all_orgs)},
            )
        )
        self.people = RowSet(
            _formset(
                PersonForm,
                prefix="people",
                data=data,
                initial=[
                    {
                        "user": p.user.username,
                        "organisation": p.member.organisation.code,
                        "role": p.role,
                        "effort_percent": str(p.effort_percent),
                    }
                    for p in people
                ],
                form_kwargs={
                    "users": user_choices(users),
                    "organisations": organisation_choices(consortium_orgs),
                },
            )
        )

    def rowsets(self) -> list[RowSet]:
        return [self.members, self.people]

    def payload(self) -> dict[str, Any]:
        return {
            "members": [
                {"organisation": f.cleaned_data["organisation"], "role": f.cleaned_data["role"]}
                for f in self.members.collect()
            ],
            "people": [
                {
                    "user": f.cleaned_data["user"],
                    "organisation": f.cleaned_data["organisation"],
                    "role": f.cleaned_data["role"],
                    "effort_percent": _number(f.cleaned_data["effort_percent"]),
                }
                for f in self.people.collect()
            ],
        }

    def place(self, parts: list[str], messages: Sequence[str]) -> bool:
        if parts[0] == "members":
            return self.members.place(parts[1:], messages)
        if parts[0] == "people":
            return self.people.place(parts[1:], messages)
        return False

    def context(self) -> dict[str, Any]:
        return {"members": self.members, "people": self.people}


# --------------------------------------------------------------------------- stages


class _EvidenceLevelField(forms.ChoiceField):
    """A row that leaves the evidence level out (a page from before §22, a script) asks for
    the least the KPI may have, which the service fills in: not a change of the row."""

    def has_changed(self, initial: Any, data: Any) -> bool:
        return data not in (None, "") and super().has_changed(initial, data)


class KpiForm(RowForm):
    code = _text(_("Code"), attrs={"size": "6"})
    name_en = _text(_("Name (English)"))
    name_ja = _text(_("Name (Japanese)"))
    name_ko = _text(_("Name (Korean)"))
    unit = _text(_("Unit"), attrs={"size": "6"})
    direction = _choice(_("Direction"), KpiDirection.choices, initial=KpiDirection.HIGHER)
    baseline = _text(_("Baseline"), attrs={**DECIMAL, "size": "8"})
    target = _text(_("Target"), attrs={**DECIMAL, "size": "8"})
    weight = forms.CharField(
        label=_("Weight"),
        required=False,
        initial="1",
        widget=forms.TextInput(attrs={**DECIMAL, "size": "4"}),
    )
    mandatory = forms.BooleanField(label=_("Mandatory"), required=False)
    aggregation = _choice(_("Aggregation"), KpiAggregation.choices, initial=KpiAggregation.LATEST)
    # §22: how each measurement is backed; a mandatory KPI needs at least a file.
    evidence = _EvidenceLevelField(
        label=_("Evidence"),
        required=False,
        choices=EvidenceLevel.choices,
        initial=EvidenceLevel.DOCUMENT,
    )
    means_of_verification_en = _text(_("Means of verification (English)"), rows=2)
    means_of_verification_ja = _text(_("Means of verification (Japanese)"), rows=2)
    means_of_verification_ko = _text(_("Means of verification (Korean)"), rows=2)

    def payload(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "code": d["code"],
            "name_en": d["name_en"],
            "name_ja": d["name_ja"],
            "name_ko": d["name_ko"],
            "unit": d["unit"],
            "direction": d["direction"],
            "baseline": _number(d["baseline"]),
            "target": _number(d["target"]),
            "weight": _number(d["weight"]),
            "mandatory": bool(d["mandatory"]),
            "aggregation": d["aggregation"],
            "evidence": d["evidence"],
            "means_of_verification_en": d["means_of_verification_en"],
            "means_of_verification_ja": d["means_of_verification_ja"],
            "means_of_verification_ko": d["means_of_verification_ko"],
        }


class DeliverableForm(RowForm):
    """A deliverable of the stage (§24); unless marked optional it holds the stage's gate."""

    title_en = _text(_("Title (English)"))
    title_ja = _text(_("Title (Japanese)"))
    title_ko = _text(_("Title (Korean)"))
    kind = _choice(_("Kind"), [BLANK, *DeliverableKind.choices])
    due_month = _text(_("Due in month"), attrs={**NUMERIC, "size": "3"})
    # Optional rather than mandatory: a spare row left blank stays unchanged.
    optional = forms.BooleanField(label=_("Optional"), required=False)

    def payload(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "title_en": d["title_en"],
            "title_ja": d["title_ja"],
            "title_ko": d["title_ko"],
            "kind": d["kind"],
            "due_month": _number(d["due_month"]),
            "mandatory": not d["optional"],
        }


class StageForm(RowForm):
    title = _text(_("Title"))
    months = _text(_("Months"), attrs={**NUMERIC, "size": "4"})
    deliverable = _text(_("Deliverable"), rows=2)
    planned_jpy = _text(_("Planned tranche, JP side (¥)"), attrs=NUMERIC)
    planned_krw = _text(_("Planned tranche, KR side (₩)"), attrs=NUMERIC)

    kpis: RowSet
    kpi_template: KpiForm
    deliverables: RowSet
    deliverable_template: DeliverableForm

    def attach_deliverables(self, rowset: RowSet) -> None:
        self.deliverables = rowset
        self.deliverable_template = DeliverableForm(
            prefix=f"{rowset.formset.prefix}-__deliverable__",
            empty_permitted=True,
            use_required_attribute=False,
        )
        rowset.formset.add_fields(self.deliverable_template, None)

    def attach_kpis(self, rowset: RowSet) -> None:
        self.kpis = rowset
        # The blank row wizard.js copies; "__kpi__" so it survives the stage's "__prefix__".
        self.kpi_template = KpiForm(
            prefix=f"{rowset.formset.prefix}-__kpi__",
            empty_permitted=True,
            use_required_attribute=False,
        )
        rowset.formset.add_fields(self.kpi_template, None)

    def has_content(self) -> bool:
        return self.has_changed() or bool(self.kpis.collect()) or bool(self.deliverables.collect())

    def place_nested(self, parts: list[str], messages: Sequence[str]) -> bool:
        if parts and parts[0] == "kpis":
            return self.kpis.place(parts[1:], messages)
        if parts and parts[0] == "deliverables":
            return self.deliverables.place(parts[1:], messages)
        return False


def _kpi_formset(prefix: str, data: Any, initial: list[dict[str, Any]]) -> RowSet:
    # A stage row added without its KPI table (scripts off, tampering) simply has no KPIs.
    bound = data if data is not None and f"{prefix}-TOTAL_FORMS" in data else None
    return RowSet(_formset(KpiForm, prefix=prefix, data=bound, initial=initial))


def _deliverable_formset(prefix: str, data: Any, initial: list[dict[str, Any]]) -> RowSet:
    bound = data if data is not None and f"{prefix}-TOTAL_FORMS" in data else None
    return RowSet(_formset(DeliverableForm, prefix=prefix, data=bound, initial=initial))


class StagesStep(WizardStep):
    slug = "stages"
    section = "stages"
    template_name = "projects/proposals/step_stages.html"

    def __init__(self, proposal: Proposal, data: Any = None) -> None:
        super().__init__(proposal, data)
        stages = list(proposal.stages.prefetch_related("kpis", "deliverables"))
        initial = [
            {
                "title": s.title,
                "months": str(s.months),
                "deliverable": s.deliverable,
                "planned_jpy": _grouped(s.planned_jpy),
                "planned_krw": _grouped(s.planned_krw),
            }
            for s in stages
        ]
        kpi_initial = [
            [
                {
                    "code": k.code,
                    "name_en": k.name_en,
                    "name_ja": k.name_ja,
                    "name_ko": k.name_ko,
                    "unit": k.unit,
                    "direction": k.direction,
                    "baseline": _plain_decimal(k.baseline),
                    "target": _plain_decimal(k.target),
                    "weight": _plain_decimal(k.weight),
                    "mandatory": k.mandatory,
                    "aggregation": k.aggregation,
                    "evidence": k.evidence,
                    "means_of_verification_en": k.means_of_verification_en,
                    "means_of_verification_ja": k.means_of_verification_ja,
                    "means_of_verification_ko": k.means_of_verification_ko,
                }
                for k in s.kpis.all()
            ]
            for s in stages
        ]
        deliverable_initial = [
            [
                {
                    "title_en": d.title_en,
                    "title_ja": d.title_ja,
                    "title_ko": d.title_ko,
                    "kind": d.kind,
                    "due_month": str(d.due_month),
                    "optional": not d.mandatory,
                }
                for d in s.deliverables.all()
            ]
            for s in stages
        ]
        # A new draft starts with as many blank stages as the call needs.
        extra = max(1, proposal.call.min_stages - len(stages))
        self.stages = RowSet(
            _formset(StageForm, prefix="stages", data=data, initial=initial, extra=extra)
        )
        for index, form in enumerate(self.stages.formset.forms):
            rows = kpi_initial[index] if index < len(kpi_initial) else []
            form.attach_kpis(_kpi_formset(f"{form.prefix}-kpis", data, rows))
            planned = deliverable_initial[index] if index < len(deliverable_initial) else []
            form.attach_deliverables(
                _deliverable_formset(f"{form.prefix}-deliverables", data, planned)
            )
        self.template = self.stages.formset.empty_form
        self.template.attach_kpis(_kpi_formset("stages-__prefix__-kpis", None, []))
        self.template.attach_deliverables(
            _deliverable_formset("stages-__prefix__-deliverables", None, [])
        )

    def rowsets(self) -> list[RowSet]:
        return [
            self.stages,
            *(f.kpis for f in self.stages.formset.forms),
            *(f.deliverables for f in self.stages.formset.forms),
        ]

    def payload(self) -> list[dict[str, Any]]:
        out = []
        for form in self.stages.collect():
            d = form.cleaned_data
            out.append(
                {
                    "title": d.get("title", ""),
                    "months": _number(d.get("months", "")),
                    "deliverable": d.get("deliverable", ""),
                    "planned_jpy": _number(d.get("planned_jpy", "")),
                    "planned_krw": _number(d.get("planned_krw", "")),
                    "kpis": [k.payload() for k in form.kpis.collect()],  # type: ignore[attr-defined]
                    "deliverables": [
                        row.payload()  # type: ignore[attr-defined]
                        for row in form.deliverables.collect()  # type: ignore[attr-defined]
                    ],
                }
            )
        return out

    def place(self, parts: list[str], messages: Sequence[str]) -> bool:
        if parts[0] == "stages":
            return self.stages.place(parts[1:], messages)
        return False

    def context(self) -> dict[str, Any]:
        return {"stages": self.stages, "stage_template": self.template}


# --------------------------------------------------------------------------- budget


class CurrencySelect(forms.Select):
    """Each organisation option says which currency it budgets in, for the live hint."""

    def __init__(self, *args: Any, currencies: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.currencies = currencies or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):  # type: ignore[no-untyped-def]
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        currency = self.currencies.get(str(value))
        if currency:
            option["attrs"]["data-currency"] = currency
        return option


class BudgetLineForm(RowForm):
    organisation = _choice(_("Organisation"))
    category = _choice(_("Category"), [BLANK, *BudgetCategory.choices])
    amount = _text(_("Amount"), attrs=NUMERIC)

    def __init__(
        self, *args: Any, organisations: Choices, currencies: dict[str, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        field.widget = CurrencySelect(currencies=currencies, attrs={"data-currency-source": ""})
        field.choices = organisations  # type: ignore[attr-defined]
        self.currencies = currencies

    @property
    def currency(self) -> str:
        return self.currencies.get(str(self["organisation"].value() or ""), "")


class BudgetStep(WizardStep):
    slug = "budget"
    section = "budget"
    template_name = "projects/proposals/step_budget.html"

    def __init__(self, proposal: Proposal, data: Any = None) -> None:
        super().__init__(proposal, data)
        lines = list(proposal.budget_lines.select_related("organisation"))
        orgs = {
            m.organisation.code: m.organisation
            for m in proposal.members.select_related("organisation")
        }
        for line in lines:  # a line for an organisation that has since left stays visible
            orgs.setdefault(line.organisation.code, line.organisation)
        currencies = {
            code: currency_for_country(o.country)
            for code, o in orgs.items()
            if currency_for_country(o.country)
        }
        self.lines = RowSet(
            _formset(
                BudgetLineForm,
                prefix="budget",
                data=data,
                initial=[
                    {
                        "organisation": b.organisation.code,
                        "category": b.category,
                        "amount": _grouped(b.amount),
                    }
                    for b in lines
                ],
                form_kwargs={
                    "organisations": organisation_choices(orgs.values()),
                    "currencies": currencies,
                },
            )
        )
        stages = list(proposal.stages.all())
        self.planned = {
            "JPY": sum(s.planned_jpy for s in stages),
            "KRW": sum(s.planned_krw for s in stages),
        }

    def rowsets(self) -> list[RowSet]:
        return [self.lines]

    def payload(self) -> list[dict[str, Any]]:
        return [
            {
                "organisation": f.cleaned_data["organisation"],
                "category": f.cleaned_data["category"],
                "amount": _number(f.cleaned_data["amount"]),
            }
            for f in self.lines.collect()
        ]

    def place(self, parts: list[str], messages: Sequence[str]) -> bool:
        if parts[0] == "budget":
            # The currency follows the organisation; a currency message belongs there.
            if len(parts) == 3 and parts[2] == "currency":
                parts = [*parts[:2], "organisation"]
            return self.lines.place(parts[1:], messages)
        return False

    def context(self) -> dict[str, Any]:
        return {"lines": self.lines, "planned": self.planned}


# --------------------------------------------------------------------------- IP plan


class BackgroundIPForm(RowForm):
    title = _text(_("Title"))
    owner = _choice(_("Owner"))
    description = _text(_("Description"), rows=2)

    def __init__(self, *args: Any, organisations: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = organisations  # type: ignore[attr-defined]


class LicenceTermsForm(forms.Form):
    licence_terms = _text(_("Intended licence terms for results"), rows=5)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["licence_terms"].help_text = _(
            "Results have one owner each; partners use them through time- and use-limited licences."
        )


class IpPlanStep(WizardStep):
    slug = "ip"
    section = "ip_plan"
    template_name = "projects/proposals/step_ip.html"

    def __init__(self, proposal: Proposal, data: Any = None) -> None:
        super().__init__(proposal, data)
        items = list(proposal.background_ip.select_related("owner"))
        orgs = {
            m.organisation.code: m.organisation
            for m in proposal.members.select_related("organisation")
        }
        for item in items:
            orgs.setdefault(item.owner.code, item.owner)
        self.items = RowSet(
            _formset(
                BackgroundIPForm,
                prefix="background_ip",
                data=data,
                initial=[
                    {"title": b.title, "owner": b.owner.code, "description": b.description}
                    for b in items
                ],
                form_kwargs={"organisations": organisation_choices(orgs.values())},
            )
        )
        self.form = LicenceTermsForm(data, initial={"licence_terms": proposal.ip_licence_terms})

    def single_forms(self) -> list[forms.Form]:
        return [self.form]

    def rowsets(self) -> list[RowSet]:
        return [self.items]

    def payload(self) -> dict[str, Any]:
        return {
            "background_ip": [
                {
                    "title": f.cleaned_data["title"],
                    "owner": f.cleaned_data["owner"],
                    "description": f.cleaned_data["description"],
                }
                for f in self.items.collect()
            ],
            "licence_terms": self.form.cleaned_data["licence_terms"],
        }

    def place(self, parts: list[str], messages: Sequence[str]) -> bool:
        if parts[0] == "background_ip":
            return self.items.place(parts[1:], messages)
        if parts[0] == "licence_terms":
            _place_on_form(self.form, "licence_terms", messages)
            return True
        return False

    def context(self) -> dict[str, Any]:
        return {"items": self.items, "form": self.form}


# --------------------------------------------------------------------------- security


class SecurityForm(forms.Form):
    dual_use = forms.BooleanField(label=_("Dual-use technology"), required=False)
    controlled_categories = _text(_("Controlled-technology categories"))
    security_notes = _text(_("Notes"), rows=4)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dual_use"].help_text = _(
            "Could the results serve military as well as civilian purposes?"
        )
        self.fields["controlled_categories"].help_text = _(
            "Export-control categories that apply, separated by commas."
        )
        self.fields["security_notes"].help_text = _(
            "Partners outside Japan and Korea, and anything screening should know."
        )


class SecurityStep(WizardStep):
    slug = "security"
    section = "security"
    template_name = "projects/proposals/step_security.html"

    def __init__(self, proposal: Proposal, data: Any = None) -> None:
        super().__init__(proposal, data)
        self.form = SecurityForm(
            data,
            initial={
                "dual_use": proposal.dual_use,
                "controlled_categories": ", ".join(proposal.controlled_categories),
                "security_notes": proposal.security_notes,
            },
        )

    def single_forms(self) -> list[forms.Form]:
        return [self.form]

    def payload(self) -> dict[str, Any]:
        d = self.form.cleaned_data
        return {
            "dual_use": bool(d["dual_use"]),
            "controlled_categories": d["controlled_categories"],
            "notes": d["security_notes"],
        }

    def place(self, parts: list[str], messages: Sequence[str]) -> bool:
        name = "security_notes" if parts[0] == "notes" else parts[0]
        if name in self.form.fields:
            _place_on_form(self.form, name, messages)
            return True
        return False

    def context(self) -> dict[str, Any]:
        return {"form": self.form}


FORM_STEPS: dict[str, type[WizardStep]] = {
    cls.slug: cls
    for cls in (BasicsStep, ConsortiumStep, StagesStep, BudgetStep, IpPlanStep, SecurityStep)
}


# --------------------------------------------------------------------------- attachments


class AttachmentForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), choices=Attachment.Kind.choices, initial=Attachment.Kind.RESEARCH_PLAN
    )
    file = forms.FileField(
        label=_("PDF file"),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
        help_text=_("PDF only, at most 20 MB; a proposal has at most 10 attachments."),
    )

    def add_domain_errors(self, errors: dict[str, list[Any]], message: Any) -> None:
        if not errors:
            self.add_error(None, str(message))
        for key, messages in errors.items():
            _place_on_form(self, key, [str(m) for m in messages])


class WithdrawForm(forms.Form):
    reason = _text(_("Reason"), rows=2)


class EndorseForm(forms.Form):
    organisation = forms.IntegerField(required=False, widget=forms.HiddenInput)
    comment = _text(_("Comment"), rows=2)


class ReturnForm(forms.Form):
    """A research office returns a submission to the PIs instead of endorsing it; the
    reason is required (the service says so beside the field)."""

    organisation = forms.TypedChoiceField(
        label=_("For organisation"), coerce=int, required=False, empty_value=None
    )
    reason = _text(_("Reason"), rows=3)

    def __init__(self, *args: Any, organisations: Iterable[Organisation] = (), **kwargs: Any):
        # Its own ids: the withdraw form on the same page has a "reason" too.
        kwargs.setdefault("auto_id", "id_return_%s")
        super().__init__(*args, **kwargs)
        choices = [(o.pk, o.name) for o in organisations]
        field = self.fields["organisation"]
        field.choices = choices  # type: ignore[attr-defined]
        if len(choices) <= 1:
            field.widget = forms.HiddenInput()
            if choices:
                field.initial = choices[0][0]
        self.fields["reason"].help_text = _(
            "What the principal investigators should change before submitting again. "
            "They receive it in a notification."
        )
