"""4. Licence check, single, under load: 8 client processes, each on one keep-alive
connection, post single checks to a real gunicorn server (gthread workers) for a fixed
time; the baseline is a trivial JSON view (``bench/urls.py``) on the same server, measured
the same way in the same run. Reports requests per second; the queries per check are
counted in-process with Django's test Client on the same request."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection
from django.test import Client

from bench import db, world
from bench.b_licence_batch import FULL_LICENCES
from bench.core import Row, counting, n

CONNECTIONS = 8
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client_loop(port, path, body, headers, start, stop_at, out):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    done = bad = 0
    start.wait()
    deadline = time.monotonic() + stop_at
    while time.monotonic() < deadline:
        conn.request("POST" if body else "GET", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            done += 1
        else:
            bad += 1
    conn.close()
    out.put((done, bad))
    out.close()
    out.join_thread()
    os._exit(0)  # a forked copy of the runner: leave without its atexit and Django teardown


def load(
    port: int, path: str, body: bytes | None, headers: dict, seconds: float
) -> tuple[float, int]:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_client_loop, args=(port, path, body, headers, start, seconds, out))
        for _ in range(CONNECTIONS)
    ]
    for p in procs:
        p.start()
    time.sleep(0.5)
    begun = time.monotonic()
    start.set()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    elapsed = time.monotonic() - begun
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    bad = sum(r[1] for r in results)
    return done / elapsed, bad


def start_server(port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    env["BENCH_DATABASE_NAME"] = db.WORK
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "fundapp.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            str(os.environ.get("BENCH_WORKERS", "2")),
            "--threads",
            "4",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/bench/ping/")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("gunicorn did not start")


def run(scale: float, repeat: int) -> Row:
    licences = n(scale, FULL_LICENCES, 200)
    db.fresh()
    base = world.make_base(jp_pool=10**12, kr_pool=10**12)
    lic = world.make_licences(base, licences)
    token = world.api_key(lic.checker_org, ["licences:check"], "bench load")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    check = world.check_items(lic, 1)[0]
    check.update(field="semiconductor.ai", purpose="research", territory="JP")
    body = json.dumps(check).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.post("/api/v1/licences/check/", body, content_type="application/json")
    with counting() as counter:
        response = client.post("/api/v1/licences/check/", body, content_type="application/json")
    assert response.status_code == 200, response.content[:300]
    decision = response.json()["decision"]
    connection.close()
    seconds = max(1.0, 10.0 * min(1.0, scale * 3))
    port = _free_port()
    server = start_server(port)
    project_rates, baseline_rates, refused = [], [], 0
    try:
        warm = min(1.0, seconds / 2)
        load(port, "/bench/ping/", None, {}, warm)  # warm both workers
        load(port, "/api/v1/licences/check/", body, headers, warm)
        for _ in range(repeat):
            rate, bad = load(port, "/api/v1/licences/check/", body, headers, seconds)
            project_rates.append(rate)
            refused += bad
            rate, bad = load(port, "/bench/ping/", None, {}, seconds)
            baseline_rates.append(rate)
            refused += bad
    finally:
        server.terminate()
        server.wait(30)
    return Row(
        name=f"Licence check, single, under load ({CONNECTIONS} keep-alive connections, gunicorn)",
        size=f"{licences:,} licences",
        project=project_rates,
        baseline=baseline_rates,
        queries=f"{counter.count} per check",
        unit="req/s",
        ok=refused == 0,
        notes=[f"decision {decision}; {seconds:.0f} s per run; non-200 answers: {refused}"],
        scale=scale,
    )
