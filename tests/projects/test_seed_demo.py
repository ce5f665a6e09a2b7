"""``manage.py seed_demo`` (§20): complete, valid, audited and idempotent."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from fundapp.accounts.models import Membership, Organisation, User
from fundapp.audit.models import AuditEvent
from fundapp.audit.services import verify_chain
from fundapp.demo import DEMO_LOGINS, DEMO_PASSWORD
from projects.models import (
    Attachment,
    BudgetLine,
    Call,
    CallState,
    ConsortiumMember,
    Endorsement,
    Fund,
    Proposal,
    ProposalKPI,
    ProposalPerson,
    ProposalStage,
    ProposalState,
    ProposalVersion,
    ResearchArea,
    ReviewCriterion,
)
from projects.models.proposals import PENDING_STATES

pytestmark = pytest.mark.django_db

COUNTED = (
    Organisation,
    User,
    Membership,
    Fund,
    ResearchArea,
    Call,
    ReviewCriterion,
    Proposal,
    ConsortiumMember,
    ProposalPerson,
    ProposalStage,
    ProposalKPI,
    BudgetLine,
    Attachment,
    Endorsement,
    ProposalVersion,
    AuditEvent,
)


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.PRIVATE_MEDIA_ROOT = tmp_path
    # The demo password is hashed eleven times per run; a fast hasher keeps the test short.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return tmp_path


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_seed_demo_twice_makes_everything_once_and_the_demo_logins_work(settings, media, client):
    settings.DEBUG = True

    first_output = seed()
    after_first = counts()
    files = sorted(media.rglob("*.pdf"))
    second_output = seed()

    assert counts() == after_first
    assert sorted(media.rglob("*.pdf")) == files
    assert "7 new" in first_output and "0 new, 7 already there" in second_output

    # Every state reachable so far, made through the services.
    states = set(Proposal.objects.values_list("state", flat=True))
    assert {
        ProposalState.DRAFT,
        ProposalState.SUBMITTED,
        ProposalState.ELIGIBLE,
        ProposalState.INELIGIBLE,
        ProposalState.WITHDRAWN,
    } <= states
    ineligible = Proposal.objects.get(state=ProposalState.INELIGIBLE)
    assert "Daejeon" in ineligible.eligibility_reasons[0]
    assert Proposal.objects.get(state=ProposalState.ELIGIBLE).eligibility_reasons == []
    for proposal in Proposal.objects.exclude(state=ProposalState.DRAFT):
        assert proposal.versions.count() == 1
        attachment = proposal.attachments.get(kind=Attachment.Kind.RESEARCH_PLAN)
        stored = (media / attachment.storage_name).read_bytes()
        assert stored.startswith(b"%PDF-") and stored.rstrip().endswith(b"%%EOF")

    # Three calls: two open, the green one closed.
    assert Call.objects.count() == 3
    assert Call.objects.filter(state=CallState.OPEN).count() == 2
    assert Call.objects.get(state=CallState.CLOSED).title_en.startswith("Green")
    for call in Call.objects.all():
        assert [c.weight for c in call.criteria.all()] == [
            Decimal("0.4"),
            Decimal("0.3"),
            Decimal("0.3"),
        ]
    qkd = ResearchArea.objects.get(code="quantum.communication.qkd")
    assert qkd.parent.code == "quantum.communication" and qkd.sensitivity == "controlled"

    # The e-Rad rule holds for everybody.
    for user in User.objects.all():
        pending = ProposalPerson.objects.filter(user=user, proposal__state__in=PENDING_STATES)
        assert sum(p.effort_percent for p in pending) <= 100

    for username, _who in DEMO_LOGINS:
        response = client.post(
            reverse("accounts:login"), {"username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 302, username
        assert client.session["_auth_user_id"] == str(User.objects.get(username=username).pk)
        client.logout()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.role == "admin"
    assert Membership.objects.get(user__username="office_tokyo").research_office

    report = verify_chain()
    assert report.ok, report


def test_without_debug_the_demo_people_cannot_sign_in_until_asked(settings, media):
    settings.DEBUG = False

    output = seed()

    assert "no usable password" in output
    assert not any(u.has_usable_password() for u in User.objects.all())

    events = AuditEvent.objects.count()
    output = seed("--with-logins")

    assert all(
        User.objects.get(username=username).check_password(DEMO_PASSWORD)
        for username, _who in DEMO_LOGINS
    )
    assert AuditEvent.objects.count() == events + len(DEMO_LOGINS)
    assert "Demo logins" in output

    seed()  # DEBUG still off: the published password stops working again
    assert not any(u.has_usable_password() for u in User.objects.all())
    assert verify_chain().ok
