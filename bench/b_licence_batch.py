"""3. Licence check, a batch of 1,000 checks against 100,000 licences, through the API
(``POST /api/v1/licences/check/`` with the licensee's key, via Django's test Client: key
authentication, throttling, parsing, the service, rendering), against a plain indexed SQL
lookup of the same licence rows. The SQL also decides each check (§10.4) and the
decisions are compared."""

from __future__ import annotations

import json

from django.db import connection
from django.test import Client

from bench import db, world
from bench.core import Row, counting, n, timed

FULL_LICENCES = 100_000
FULL_BATCH = 1_000

BASELINE_SQL = """
WITH c(i, asset_id, licensee_id, field, purpose, territory, day) AS (
    SELECT * FROM unnest(%(i)s::int[], %(asset)s::bigint[], %(licensee)s::bigint[],
                         %(field)s::text[], %(purpose)s::text[], %(territory)s::text[],
                         %(day)s::date[])
)
SELECT c.i, l.id, l.fields_of_use, l.purposes, l.territories, l.start_on, l.end_on, l.state
FROM c
JOIN ip_licensing_licenceasset la ON la.asset_id = c.asset_id
JOIN ip_licensing_licence l ON l.id = la.licence_id AND l.licensee_id = c.licensee_id
"""


def setup(scale: float) -> dict:
    licences = n(scale, FULL_LICENCES, 200)
    db.fresh()
    base = world.make_base(jp_pool=10**12, kr_pool=10**12)
    lic = world.make_licences(base, licences)
    token = world.api_key(lic.checker_org, ["licences:check", "licences:read"], "bench checker")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"licences": licences, "lic": lic, "token": token}


def _allows(row: tuple, field: str, purpose: str, territory: str, day) -> bool:
    _i, _id, fields, purposes, territories, start, end, state = row
    return (
        state == "active"
        and start <= day <= end
        and any(field == f or field.startswith(f + ".") for f in fields)
        and purpose in purposes
        and (territory in territories or "WW" in territories)
    )


def baseline(items: list[dict], org: int) -> list[str]:
    from datetime import date

    params = {
        "i": list(range(len(items))),
        "asset": [c["asset"] for c in items],
        "licensee": [org] * len(items),
        "field": [c["field"] for c in items],
        "purpose": [c["purpose"] for c in items],
        "territory": [c["territory"] for c in items],
        "day": [date.fromisoformat(c["on"]) for c in items],
    }
    with connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL, params)
        rows = cursor.fetchall()
    allowed = [False] * len(items)
    for row in rows:
        c = items[row[0]]
        if _allows(row, c["field"], c["purpose"], c["territory"], params["day"][row[0]]):
            allowed[row[0]] = True
    return ["allow" if a else "deny" for a in allowed]


def run(scale: float, repeat: int) -> Row:
    data = setup(scale)
    batch = n(scale, FULL_BATCH, 10)
    items = world.check_items(data["lic"], batch)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {data['token']}")
    body = json.dumps({"checks": items})

    def project():
        with counting() as counter:
            response = client.post("/api/v1/licences/check/", body, content_type="application/json")
        assert response.status_code == 200, response.content[:500]
        return counter.count, [r["decision"] for r in response.json()["results"]]

    project()  # warm
    baseline(items, data["lic"].checker_org)
    project_times, baseline_times = [], []
    for _ in range(repeat):
        seconds, (queries, decisions) = timed(project)
        project_times.append(seconds)
        seconds, expected = timed(lambda: baseline(items, data["lic"].checker_org))
        baseline_times.append(seconds)
    differ = [i for i, (a, b) in enumerate(zip(decisions, expected, strict=True)) if a != b]
    allowed = decisions.count("allow")
    return Row(
        name="Licence check, batch (API, key of the licensee)",
        size=f"{batch:,} checks, {data['licences']:,} licences",
        project=project_times,
        baseline=baseline_times,
        queries=f"{queries} per batch",
        ok=not differ,
        notes=[f"{allowed} allowed, {batch - allowed} denied"]
        + [f"check {i}: {items[i]} → {decisions[i]}, SQL {expected[i]}" for i in differ[:5]],
        scale=scale,
    )
