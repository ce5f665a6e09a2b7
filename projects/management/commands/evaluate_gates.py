"""``manage.py evaluate_gates [--gate ID] [--as-of YYYY-MM-DD]`` (§21).

Evaluates synchronously through ``gate_evaluate``, the service the Celery task
``evaluate_gate`` calls: each snapshot is stored, decided automatically when the call
allows it, and the tranches that decision released are posted here and now
(``tranche_release`` is idempotent, so the release message queued on commit finds them
done). Without ``--gate`` every due gate is evaluated (``gates_due``). One line per gate:
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
from projects.services.gates import gate_evaluate, today_in_tokyo, tranches_to_release

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _release_tranche(tranche_id: int) -> None:
    name = "projects.services.tranches"
    if importlib.util.find_spec(name) is None:
        return
    release = getattr(importlib.import_module(name), "tranche_release", None)
    if release is not None:
        release(tranche_id=tranche_id)


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

    def _evaluate(self, gate: Gate, as_of: date) -> str:
        evaluation = gate_evaluate(gate=gate, as_of=as_of)
        released = []
        for tranche_id in tranches_to_release(evaluation):
            _release_tranche(tranche_id)
            released.append(str(tranche_id))
        line = f"gate {gate.pk}: score {evaluation.score}, outcome {evaluation.outcome}"
        if released:
            line += f", released tranches {','.join(released)}"
        return line

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
        gates = list(gates_due(as_of))
        for gate in gates:
            try:
                self.stdout.write(self._evaluate(gate, as_of))
            except Conflict as exc:
                # Decided or taken by a concurrent worker since the list was read.
                self.stdout.write(f"gate {gate.pk}: skipped, {exc.message}")
            except Exception as exc:  # report it and go on with the other gates
                failures += 1
                self.stderr.write(f"gate {gate.pk}: failed, {exc}")
        if not gates:
            self.stdout.write(f"No gate is due on {as_of.isoformat()}.")
        if failures:
            raise CommandError(f"{failures} gate(s) could not be evaluated.")
