"""``manage.py evaluate_gates [--gate ID] [--as-of YYYY-MM-DD]`` (§21).

Evaluates synchronously through the batch service the Celery tasks call
(``gates_evaluate``, ``BATCH_SIZE`` gates per transaction; ``--gate`` is a batch of one
through ``gate_evaluate``): each snapshot is stored, decided automatically when the call
allows it, and the tranches those decisions released are posted here and now, a batch's
together (``tranches_release``; idempotent, so the release message queued on commit finds
them done). Without ``--gate`` every due gate is evaluated (``gates_due``). One line per gate:
``gate <id>: score <S>, outcome <outcome>``. Exits non-zero for an unknown gate, a bad date
or any gate that could not be evaluated.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fundapp.errors import Conflict, DomainError
from projects.models import Gate
from projects.selectors.gates import gates_due
from projects.services.gates import (
    BATCH_SIZE,
    gate_evaluate,
    gates_evaluate,
    today_in_tokyo,
    tranches_to_release,
)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


_TRANCHES = "projects.services.tranches"


def _release_tranche(tranche_id: int) -> None:
    if importlib.util.find_spec(_TRANCHES) is None:
        return
    release = getattr(importlib.import_module(_TRANCHES), "tranche_release", None)
    if release is not None:
        release(tranche_id=tranche_id)


def _release_tranches(tranche_ids: list[int]) -> dict[int, Exception]:
    """Release a batch's decided tranches together (``tranches_release``: one transaction,
    each exactly once); why each refused one was not released, by tranche id."""
    if not tranche_ids or importlib.util.find_spec(_TRANCHES) is None:
        return {}
    release = getattr(importlib.import_module(_TRANCHES), "tranches_release", None)
    if release is None:
        return {}
    return dict(release(tranche_ids=tranche_ids).refused)


class Command(BaseCommand):
    help = "Evaluate due stage gates now (or one gate), deciding and releasing automatically."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--gate", help="Evaluate only this gate (its id).")
        parser.add_argument(
            "--as-of",
            dest="as_of",
            help="The day to evaluate on, YYYY-MM-DD (default: today in Asia/Tokyo).",
        )

    def _as_of(self, raw: str | None) -> date:
        if raw is None:
            return today_in_tokyo()
        try:
            if not _DATE.match(raw):
                raise ValueError(raw)
            return date.fromisoformat(raw)
        except ValueError:
            raise CommandError(f"--as-of must be a date YYYY-MM-DD, not {raw!r}.") from None

    def _gate(self, raw: str) -> Gate:
        if not raw.isascii() or not raw.isdigit():
            raise CommandError(f"--gate must be a gate id, not {raw!r}.")
        gate = Gate.objects.filter(pk=int(raw)).first()
        if gate is None:
            raise CommandError(f"Gate {raw} does not exist.")
        return gate

    def _line(self, gate_id: int, score: object, outcome: str, released: list[int]) -> str:
        line = f"gate {gate_id}: score {score}, outcome {outcome}"
        if released:
            line += f", released tranches {','.join(str(pk) for pk in released)}"
        return line

    def _evaluate(self, gate: Gate, as_of: date) -> str:
        evaluation = gate_evaluate(gate=gate, as_of=as_of)
        tranche_ids = tranches_to_release(evaluation)
        for tranche_id in tranche_ids:
            _release_tranche(tranche_id)
        return self._line(gate.pk, evaluation.score, evaluation.outcome, tranche_ids)

    def handle(self, *args, **options) -> None:
        as_of = self._as_of(options["as_of"])
        if options["gate"] is not None:
            gate = self._gate(str(options["gate"]))
            try:
                self.stdout.write(self._evaluate(gate, as_of))
            except DomainError as exc:
                raise CommandError(f"gate {gate.pk}: {exc.message}") from exc
            return
        failures = 0
        ids = list(gates_due(as_of).values_list("pk", flat=True))
        for offset in range(0, len(ids), BATCH_SIZE):
            chunk = ids[offset : offset + BATCH_SIZE]
            result = gates_evaluate(gate_ids=chunk, as_of=as_of, batch_size=BATCH_SIZE)
            # The releases the batch decided, posted here together (the message queued on
            # commit then finds them done); a failed release is retried by the reconciler.
            try:
                refused = _release_tranches(
                    sorted(pk for ids in result.tranches.values() for pk in ids)
                )
            except Exception as exc:  # reported per gate below; the reconciler retries
                refused = {pk: exc for ids in result.tranches.values() for pk in ids}
            for gate_id in chunk:
                if gate_id in result.failed:
                    failures += 1
                    self.stderr.write(f"gate {gate_id}: failed, {result.failed[gate_id]}")
                    continue
                evaluation = result.evaluations.get(gate_id)
                if evaluation is None:
                    # Decided or taken by a concurrent worker since the list was read.
                    skipped = result.skipped.get(gate_id)
                    reason = skipped.message if isinstance(skipped, Conflict) else ""
                    self.stdout.write(f"gate {gate_id}: skipped, {reason}")
                    continue
                tranche_ids = result.tranches.get(gate_id, [])
                failed = [refused[pk] for pk in tranche_ids if pk in refused]
                if failed:
                    failures += 1
                    self.stderr.write(f"gate {gate_id}: failed, {failed[0]}")
                    continue
                self.stdout.write(
                    self._line(gate_id, evaluation.score, evaluation.outcome, tranche_ids)
                )
        if not ids:
            self.stdout.write(f"No gate is due on {as_of.isoformat()}.")
        if failures:
            raise CommandError(f"{failures} gate(s) could not be evaluated.")
