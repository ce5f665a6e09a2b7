"""Clients and proposals for the proposals API tests (API keys, session clients, problem+json)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rest_framework.test import APIClient

from fundapp.accounts.models import ApiKey, Organisation, User, hash_secret
from projects.models import Attachment, Proposal
from projects.services import proposals as svc
from tests.factories import member_of
from tests.factories.proposals import Consortium, complete_changes, make_consortium, pdf_upload

READ = "proposals:read"
WRITE = "proposals:write"
PROBLEM_FIELDS = {"type", "title", "status", "detail"}


def key_client(org: Organisation, scopes: Iterable[str] = (READ, WRITE)) -> APIClient:
    """A partner system of ``org``; the key row is made directly (the issuing service is
    tested with the accounts app)."""
    key_id, secret, full_key = ApiKey.generate()
    ApiKey.objects.create(
        organisation=org,
        name="partner system",
        key_id=key_id,
        secret_hash=hash_secret(secret),
        scopes=list(scopes),
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
    return client


def user_client(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def assert_problem(response, status: int) -> dict[str, Any]:
    """§21: every error is application/problem+json with type, title, status, detail."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= PROBLEM_FIELDS
    assert body["status"] == status
    return body


def detail_url(proposal: Proposal | int) -> str:
    pk = proposal if isinstance(proposal, int) else proposal.pk
    return f"/api/v1/proposals/{pk}/"


@dataclass
class Team:
    """A complete draft with a co-investigator beside the two PIs."""

    proposal: Proposal
    c: Consortium
    co_investigator: User


def team_proposal() -> Team:
    c = make_consortium()
    co_investigator = member_of(c.jp)
    changes = complete_changes(c)
    changes["consortium"]["people"].append(
        {
            "user": co_investigator.pk,
            "organisation": c.jp.code,
            "role": "co_investigator",
            "effort_percent": 20,
        }
    )
    proposal = svc.proposal_create(actor=c.pi_jp, call=c.call)
    proposal = svc.proposal_update(
        proposal=proposal, actor=c.pi_jp, expected_version=proposal.version, changes=changes
    )
    svc.attachment_add(
        proposal=proposal, actor=c.pi_jp, upload=pdf_upload(), kind=Attachment.Kind.RESEARCH_PLAN
    )
    proposal.refresh_from_db()
    return Team(proposal, c, co_investigator)


def bare_draft() -> tuple[Proposal, Consortium]:
    """A fresh draft with only its creator's organisation: for tests of request handling."""
    c = make_consortium()
    return svc.proposal_create(actor=c.pi_jp, call=c.call), c
