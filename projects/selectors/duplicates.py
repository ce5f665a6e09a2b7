"""Duplicate-funding candidates and flags (§5, §22).

A candidate for a proposal is another proposal that is pending (submitted, eligible, under
review) or was awarded and has a running project (active or suspended), on which one of
the proposal's people — principal investigator or co-investigator — is named again,
recognised by the same e-Rad researcher number, Korean researcher number or ORCID iD
(two accounts of one person count; a person without any of these numbers is not matched),
and whose title or abstract is similar in some language: each language field given on
both sides is compared with its counterpart (``title_ja`` with ``title_ja``, ``abstract_ko``
with ``abstract_ko``), never across languages, by PostgreSQL's ``pg_trgm`` similarity.

The threshold is §22's 0.5 on any one pair. pg_trgm reads a run of Japanese or Korean
characters as one word of trigrams (the database's C.UTF-8 ctype counts CJK letters as
alphanumeric). Measured here: a Japanese title grown by one word (研究 → 研究開発) 0.84;
two Japanese titles with another ending (…に関する研究 / …に向けた研究開発) 0.44; Korean titles differing by one
particle 0.83; an English rewording ("Solid-state batteries for EVs" / "Solid state battery
for electric vehicles") 0.49; the demo's unrelated proposals of one field at most 0.32.
So a resubmission of the same work is flagged, a neighbouring topic is not; the score of
every compared pair is kept on the flag for the officer. A project's people are those of
the proposal it was awarded from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from fundapp.actors import Actor
from fundapp.errors import NotFound
from projects.models import (
    DuplicateFlagState,
    DuplicateFundingFlag,
    Project,
    ProjectState,
    Proposal,
    ProposalPerson,
)
from projects.models.proposals import PENDING_STATES
from projects.permissions import can_see_duplicate_flags

SIMILARITY_THRESHOLD = Decimal("0.5")
LANGUAGES = ("en", "ja", "ko")
COMPARED_FIELDS = tuple(f"{name}_{lang}" for name in ("title", "abstract") for lang in LANGUAGES)
IDENTIFIER_KINDS = ("erad", "kr_researcher_number", "orcid")
RUNNING_PROJECT_STATES = (ProjectState.ACTIVE, ProjectState.SUSPENDED)


@dataclass(frozen=True)
class DuplicateCandidate:
    proposal_id: int
    project_id: int | None
    identifiers: list[dict[str, Any]]
    # Every language field given on both sides -> pg_trgm similarity (three places).
    similarity: dict[str, Decimal] = field(default_factory=dict)

    @property
    def best_similarity(self) -> Decimal:
        return max(self.similarity.values(), default=Decimal(0))


def _candidates_sql() -> str:
    proposal = Proposal._meta.db_table
    person = ProposalPerson._meta.db_table
    project = Project._meta.db_table
    user = ProposalPerson._meta.get_field("user").related_model._meta.db_table  # type: ignore[union-attr]
    scores = ",\n".join(
        f"CASE WHEN me.{f} <> '' AND other.{f} <> '' "
        f"THEN round(similarity(me.{f}, other.{f})::numeric, 3) END AS {f}"
        for f in COMPARED_FIELDS
    )
    columns = ", ".join(COMPARED_FIELDS)
    greatest = ", ".join(f"scored.{f}" for f in COMPARED_FIELDS)
    return f"""
        WITH mine AS (
            SELECT u.id AS user_id, u.erad_number, u.kr_researcher_number, u.orcid
            FROM {person} pp JOIN {user} u ON u.id = pp.user_id
            WHERE pp.proposal_id = %(proposal)s
        ),
        hits AS (
            SELECT op.proposal_id,
                   jsonb_agg(DISTINCT jsonb_build_object(
                       'kind', k.kind, 'value', k.value,
                       'person', m.user_id, 'matched_person', ou.id)) AS identifiers
            FROM mine m
            CROSS JOIN LATERAL (VALUES ('erad', m.erad_number),
                                       ('kr_researcher_number', m.kr_researcher_number),
                                       ('orcid', m.orcid)) AS k(kind, value)
            JOIN {user} ou ON k.value <> '' AND (
                   (k.kind = 'erad' AND ou.erad_number = k.value)
                OR (k.kind = 'kr_researcher_number' AND ou.kr_researcher_number = k.value)
                OR (k.kind = 'orcid' AND ou.orcid = k.value))
            JOIN {person} op ON op.user_id = ou.id AND op.proposal_id <> %(proposal)s
            GROUP BY op.proposal_id
        ),
        scored AS (
            SELECT other.id, pr.id AS project_id, hits.identifiers,
                   {scores}
            FROM hits
            JOIN {proposal} other ON other.id = hits.proposal_id
            LEFT JOIN {project} pr ON pr.proposal_id = other.id
            CROSS JOIN (SELECT {columns} FROM {proposal} WHERE id = %(proposal)s) me
            WHERE other.state = ANY(%(pending)s) OR pr.state = ANY(%(running)s)
        )
        SELECT * FROM scored
        WHERE GREATEST({greatest}) >= %(threshold)s
        ORDER BY scored.id
    """  # noqa: S608 - table and column names are our own constants


def duplicate_candidates(
    proposal_id: int, *, threshold: Decimal = SIMILARITY_THRESHOLD
) -> list[DuplicateCandidate]:
    """The proposal's duplicate-funding candidates (see the module), by proposal id. One
    query whatever the number of people, proposals and projects."""
    with connection.cursor() as cursor:
        cursor.execute(
            _candidates_sql(),
            {
                "proposal": proposal_id,
                "pending": [str(s) for s in PENDING_STATES],
                "running": [str(s) for s in RUNNING_PROJECT_STATES],
                "threshold": threshold,
            },
        )
        names = [c.name for c in cursor.description or ()]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return [
        DuplicateCandidate(
            proposal_id=row["id"],
            project_id=row["project_id"],
            identifiers=sorted(
                # Django's connection reads jsonb as text (its JSONField decodes it).
                json.loads(row["identifiers"]),
                key=lambda i: (i["kind"], i["value"], i["person"]),
            ),
            similarity={f: row[f] for f in COMPARED_FIELDS if row[f] is not None},
        )
        for row in rows
    ]


# --------------------------------------------------------------------------- flags


def duplicate_flags_visible_to(actor: Actor | None) -> QuerySet[DuplicateFundingFlag]:
    """Every flag for fund officers and administrators; none for anyone else."""
    if not can_see_duplicate_flags(actor):
        return DuplicateFundingFlag.objects.none()
    return DuplicateFundingFlag.objects.select_related(
        "proposal", "matched_proposal", "matched_project", "resolved_by"
    ).order_by("-raised_at", "-id")


def duplicate_flag_list(actor: Actor | None, *, state: str = "") -> QuerySet[DuplicateFundingFlag]:
    """The officers' list, newest first, optionally of one state (one query a page)."""
    flags = duplicate_flags_visible_to(actor)
    if state in DuplicateFlagState.values:
        flags = flags.filter(state=state)
    return flags


def get_duplicate_flag_for_actor(actor: Actor | None, pk: Any) -> DuplicateFundingFlag:
    """The flag, or ``NotFound`` alike for a missing one and one the actor may not see."""
    try:
        return duplicate_flags_visible_to(actor).get(pk=int(pk))
    except (DuplicateFundingFlag.DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


def open_duplicate_flags(proposal_id: int) -> list[DuplicateFundingFlag]:
    """The proposal's flags that still wait for a resolution (one query)."""
    return list(
        DuplicateFundingFlag.objects.filter(
            proposal_id=proposal_id, state=DuplicateFlagState.OPEN
        ).order_by("id")
    )


def people_side_by_side(flag: DuplicateFundingFlag) -> dict[int, list[ProposalPerson]]:
    """Both proposals' named people with their identifiers, by proposal id (one query)."""
    people: dict[int, list[ProposalPerson]] = {
        flag.proposal_id: [],
        flag.matched_proposal_id: [],
    }
    for person in (
        ProposalPerson.objects.filter(proposal_id__in=list(people))
        .select_related("user", "member__organisation")
        .order_by("proposal_id", "member__order", "id")
    ):
        people[person.proposal_id].append(person)
    return people
