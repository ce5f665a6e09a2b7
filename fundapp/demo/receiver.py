"""The demo's webhook receiver (§13.3, §20): what a partner system would run, small enough
to read in a minute. ``make run`` starts it on loopback beside the web server.

Each POST is verified with the Standard Webhooks library (``standardwebhooks``) against the
secret ``seed_demo`` wrote (``DEMO_WEBHOOK_SECRET_FILE``, read again for every request so
a re-seed or a rotation written to the file needs no restart). A verified event is
answered 204; one that fails verification 401, so the platform retries it and the
subscription's page shows why. Either way one line is appended to the log
(``DEMO_WEBHOOK_LOG``) and printed: when it arrived, the ``webhook-id``, the event type,
the ``webhook-timestamp`` and whether it verified.

    python -m fundapp.demo.receiver [--host 127.0.0.1] [--port 8099] [--secret-file F] [--log F]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY = 1024 * 1024
DEFAULT_PORT = 8099


def verify(body: bytes, headers: dict[str, str], secret_file: Path) -> tuple[bool, Any]:
    """(verified, the parsed payload or ``None``) for one request."""
    try:
        secret = secret_file.read_text().strip()
    except OSError:
        return False, None
    if not secret:
        return False, None
    try:
        return True, Webhook(secret).verify(body, headers)
    except (WebhookVerificationError, ValueError):
        return False, None


def log_line(*, event_id: str, event_type: str, timestamp: str, verified: bool) -> str:
    received = datetime.now(UTC).isoformat(timespec="seconds")
    return (
        f"{received} id={event_id or '-'} type={event_type or '-'} "
        f"timestamp={timestamp or '-'} verified={'yes' if verified else 'no'}"
    )


def _event_type(body: bytes, payload: Any) -> str:
    if not isinstance(payload, dict):  # unverified: still say what it claimed to be
        try:
            payload = json.loads(body)
        except ValueError:
            return ""
    return str(payload.get("type", "")) if isinstance(payload, dict) else ""


def make_server(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    secret_file: Path,
    log_file: Path,
    out: TextIO | None = None,
) -> ThreadingHTTPServer:
    """A server that verifies, answers and logs each delivery (``port=0``: any free port)."""
    lock = threading.Lock()
    stream = out if out is not None else sys.stdout

    def record(line: str) -> None:
        with lock:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with log_file.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            stream.write(f"webhook receiver: {line}\n")
            stream.flush()

    class Handler(BaseHTTPRequestHandler):
        server_version = "DemoWebhookReceiver/1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified, payload = verify(body, headers, secret_file)
            record(
                log_line(
                    event_id=headers.get("webhook-id", ""),
                    event_type=_event_type(body, payload),
                    timestamp=headers.get("webhook-timestamp", ""),
                    verified=verified,
                )
            )
            self.send_response(204 if verified else 401)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # one line per event from record(), not the access log

    return ThreadingHTTPServer((host, port), Handler)


def _stop(server: ThreadingHTTPServer) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    return handler


def main(argv: list[str] | None = None) -> int:
    var_dir = Path(os.environ.get("JKFUND_VAR_DIR") or Path(__file__).resolve().parents[2] / "var")
    parser = argparse.ArgumentParser(description="The demo's webhook receiver.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("DEMO_WEBHOOK_PORT", DEFAULT_PORT))
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        default=Path(os.environ.get("DEMO_WEBHOOK_SECRET_FILE", var_dir / "demo-webhook-secret")),
    )
    parser.add_argument(
        "--log",
        type=Path,
        default=Path(os.environ.get("DEMO_WEBHOOK_LOG", var_dir / "demo-webhook-events.log")),
    )
    args = parser.parse_args(argv)
    server = make_server(
        host=args.host, port=args.port, secret_file=args.secret_file, log_file=args.log
    )
    signal.signal(signal.SIGTERM, _stop(server))
    signal.signal(signal.SIGINT, _stop(server))
    print(
        f"webhook receiver: listening on http://{args.host}:{server.server_address[1]}/webhooks, "
        f"logging to {args.log}",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
