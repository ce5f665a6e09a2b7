"""Reading visits (§25): who may see which (404 otherwise), and the rows a page needs."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, Organisation, User
from fundapp.actors import Actor, is_fund_staff
from fundapp.errors import NotFound
from mobility.models import Visit, VisitPayment


def visits_visible_to(actor: Actor | None) -> QuerySet[Visit]:
    """Fund staff see every visit; the visitor their own; the people and partner systems of
    the home, host and payee organisations theirs; an agency's system the visits its side
    pays. Filtered in SQL."""
    rows = Visit.objects.all()
    if is_fund_staff(actor):
        return rows
    if isinstance(actor, ApiKey):
        org = actor.organisation
        seen = (
            Q(application__home_organisation_id=org.pk)
            | Q(application__host_organisation_id=org.pk)
            | Q(payee_id=org.pk)
        )
        if org.kind == Organisation.Kind.AGENCY and org.side:
            seen |= Q(paying_side=org.side)
        return rows.filter(seen)
    if isinstance(actor, User) and actor.is_authenticated and actor.is_active:
        orgs = actor.memberships.values("organisation_id")
        return rows.filter(
            Q(application__visitor=actor)
            | Q(application__home_organisation_id__in=orgs)
            | Q(application__host_organisation_id__in=orgs)
            | Q(payee_id__in=orgs)
        )
    return rows.none()


def visit_queryset(rows: QuerySet[Visit] | None = None) -> QuerySet[Visit]:
    """What a visit's page or resource shows: its application (titles, organisations,
    visitor) and its payments (one more query for the whole page)."""
    rows = rows if rows is not None else Visit.objects.all()
    return rows.select_related(
        "application",
        "application__home_organisation",
        "application__host_organisation",
        "application__research_area",
        "application__visitor",
        "payee",
    ).prefetch_related(
        Prefetch("payments", queryset=VisitPayment.objects.order_by("kind", "month"))
    )


def get_visit_for_actor(actor: Actor | None, pk: Any) -> Visit:
    """The visit if the actor may see it; ``NotFound`` for missing and not yours alike."""
    try:
        return visit_queryset(visits_visible_to(actor)).get(pk=int(pk))
    except (Visit.DoesNotExist, TypeError, ValueError):
        raise NotFound(_("No such visit.")) from None
