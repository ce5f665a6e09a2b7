"""Forms of the review pages (§6, §15): declaration, scoring, assignment, award decision.

The forms carry what the person typed; the review and award services hold every rule and
answer with messages keyed by field (``scores.<criterion id>``, ``comment`` …), which
``add_service_errors`` places beside the matching input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fundapp.accounts.models import User
from projects.models import AwardOutcome, Recommendation, ReviewCriterion

SCORE_CHOICES = [(str(n), str(n)) for n in range(1, 6)]


class ServiceErrorsMixin:
    """Put a service's ``{field: [messages]}`` on the form's fields (or on top)."""

    service_field_map: dict[str, str] = {}

    def add_service_errors(self, errors: Mapping[str, Sequence[Any]], message: object = "") -> None:
        form: forms.Form = self  # type: ignore[assignment]
        placed = False
        for key, messages in errors.items():
            field = self.field_for(key)
            for text in messages:
                form.add_error(field if field in form.fields else None, str(text))
                placed = True
        if not placed and message:
            form.add_error(None, str(message))

    def field_for(self, key: str) -> str:
        return self.service_field_map.get(key, key)


class DeclarationForm(ServiceErrorsMixin, forms.Form):
    """The reviewer's conflict of interest declaration; a subclass names what is reviewed
    in ``question``."""

    question = _("Do you have a conflict of interest with this proposal?")
    conflict = forms.TypedChoiceField(
        label=question,
        choices=[
            ("no", _("No, I have no conflict of interest")),
            ("yes", _("Yes, I have a conflict of interest")),
        ],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
        error_messages={"required": _("Say whether you have a conflict of interest.")},
    )
    note = forms.CharField(
        label=_("Describe the conflict (required if you have one)"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["conflict"].label = self.question


def criterion_field(criterion: ReviewCriterion) -> str:
    return f"criterion_{criterion.pk}"


class ScoreForm(ServiceErrorsMixin, forms.Form):
    """A 1–5 radio group per criterion of the call, a comment and a recommendation."""

    comment = forms.CharField(
        label=_("Comment"),
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={"required": _("Write a comment for the fund officers.")},
    )
    recommendation = forms.ChoiceField(
        label=_("Recommendation"),
        choices=Recommendation.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose a recommendation.")},
    )

    def __init__(self, *args: Any, criteria: Iterable[ReviewCriterion], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.criteria = list(criteria)
        scores: dict[str, forms.Field] = {}
        for criterion in self.criteria:
            scores[criterion_field(criterion)] = forms.ChoiceField(
                label=criterion.name,
                choices=SCORE_CHOICES,
                widget=forms.RadioSelect,
                error_messages={"required": _("Give a score from 1 to 5.")},
            )
        # Criteria first, in the call's order, then the comment and recommendation.
        self.fields = {**scores, **self.fields}
        self.service_field_map = {f"scores.{c.pk}": criterion_field(c) for c in self.criteria}

    def criterion_rows(self) -> list[dict[str, Any]]:
        return [{"criterion": c, "field": self[criterion_field(c)]} for c in self.criteria]

    def scores(self) -> dict[int, str]:
        return {c.pk: self.cleaned_data[criterion_field(c)] for c in self.criteria}


class ReviewerChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:
        name = str(obj)
        return name if name == obj.username else f"{name} ({obj.username})"


class AssignForm(ServiceErrorsMixin, forms.Form):
    reviewers = ReviewerChoiceField(
        label=_("Reviewers"),
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one reviewer.")},
    )
    service_field_map = {"reviewer": "reviewers"}

    def __init__(self, *args: Any, candidates: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["reviewers"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = candidates


class AwardForm(ServiceErrorsMixin, forms.Form):
    outcome = forms.ChoiceField(
        label=_("Decision"),
        choices=AwardOutcome.choices,
        error_messages={"required": _("Choose award or reject.")},
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Give the reason for the decision.")},
    )
