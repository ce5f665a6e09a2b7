"""Importing KPI measurements from a CSV file, all rows or none (§7, §15).

``measurements_import_csv`` checks the upload (who, size, UTF-8, header, row count), stores
it outside the web root and queues an ``ImportJob``; the Celery task
``import_measurements(job_id)`` calls ``measurements_import_run``, which checks every row,
records each refused row's line, column and translated message, and then either writes
every measurement in one transaction or none. Progress (rows checked of rows in the file)
is committed as it goes, so the browser can poll it.

The file: UTF-8 (a byte-order mark is allowed), comma separated, a header line naming the
columns ``kpi_code,value,measured_at`` and optionally ``note`` and ``evidence``;
``measured_at`` in ISO 8601 with its offset (``2026-05-01T10:00:00+09:00``).

Evidence files (§22) come as a zip uploaded with the CSV: the ``evidence`` column names each
row's files in it, separated by ``;``. The zip is checked when uploaded (a real zip, at most
``MAX_ARCHIVE_BYTES`` and ``MAX_ARCHIVE_FILES`` files, plain names without folders going
up or absolute paths, no encryption, each file declared at most 20 MB); the run then checks
every named file as the browser form does (by content, at most 20 MB once unpacked, a
suspicious compression ratio refused as a zip bomb) and reports as row errors a name not in
the zip, a file refused, and a file of the zip no row names. All rows and files are
imported, or none.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from fundapp.accounts.models import ApiKey, User
from fundapp.actors import Actor
from fundapp.audit.services import audit_record
from fundapp.errors import (
    Conflict,
    DomainError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from fundapp.kernel.problems import Problems
from fundapp.notifications.outbox import Event, event_record_many
from projects.events import measurement_data
from projects.models import KPI, Measurement, MeasurementEvidence, MeasurementSource, Project
from projects.models.imports import IMPORT_WORKFLOW, ImportJob, ImportState
from projects.selectors.projects import projects_visible_to
from projects.services.notices import project_organisation_ids

from .measurements import (
    Evidence,
    StoredEvidence,
    can_record_measurement,
    check_evidence,
    clean_measured_at,
    clean_note,
    clean_value,
    evidence_listed,
    remove_stored,
    require_active,
    store_evidence,
)

REQUIRED_COLUMNS = ("kpi_code", "value", "measured_at")
OPTIONAL_COLUMNS = ("note", "evidence")
EVIDENCE_COLUMN = "evidence"
EVIDENCE_SEPARATOR = ";"
MAX_ARCHIVE_BYTES = 100 * 1024 * 1024
MAX_ARCHIVE_FILES = 1000
# Unpacked bytes per packed byte above which a large file is taken for a zip bomb.
MAX_COMPRESSION_RATIO = 200
BOMB_MIN_BYTES = 1024 * 1024
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
# Progress is written about this many times over a file, whatever its length.
PROGRESS_STEPS = 50


@dataclass(frozen=True)
class ParsedFile:
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line of the file, column → text)


def _file_error(message: str, exc: type[ValidationFailed] = ValidationFailed) -> ValidationFailed:
    return exc(message, errors={"file": [message]})


def parse_csv(data: bytes) -> ParsedFile:
    """Decode and split the file; ``ValidationFailed`` (on ``file``) for a malformed one."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnsupportedMediaType(
            _("The file is not UTF-8 text."), errors={"file": [_("The file is not UTF-8 text.")]}
        ) from None
    if "\x00" in text:
        raise UnsupportedMediaType(
            _("The file is not a CSV text file."),
            errors={"file": [_("The file is not a CSV text file.")]},
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise _file_error(_("The file is empty."))
        header = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        unknown = [h for h in header if h not in COLUMNS]
        duplicated = sorted({h for h in header if header.count(h) > 1})
        problems = []
        if missing:
            problems.append(_("Missing column(s): %(columns)s.") % {"columns": ", ".join(missing)})
        if unknown:
            problems.append(
                _("Unknown column(s): %(columns)s.") % {"columns": ", ".join(unknown)[:200]}
            )
        if duplicated:
            problems.append(
                _("Column(s) named twice: %(columns)s.") % {"columns": ", ".join(duplicated)}
            )
        if problems:
            problems.append(
                _("The header line must name the columns %(columns)s.")
                % {"columns": ",".join(COLUMNS)}
            )
            raise ValidationFailed(problems[0], errors={"file": problems})
        rows: list[tuple[int, dict[str, str]]] = []
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            line = reader.line_num
            if len(rows) >= MAX_IMPORT_ROWS:
                raise _file_error(_("A file may hold at most %(n)d rows.") % {"n": MAX_IMPORT_ROWS})
            cells = dict(zip(header, record, strict=False))
            if len(record) > len(header):
                cells["__extra__"] = ",".join(record[len(header) :])
            rows.append((line, cells))
    except csv.Error as exc:
        raise _file_error(
            _("The file is not valid CSV (line %(line)d).") % {"line": reader.line_num}
        ) from exc
    if not rows:
        raise _file_error(_("The file has no measurements below its header line."))
    return ParsedFile(header=header, rows=rows)


def _read_upload(upload: Any) -> bytes:
    size = int(getattr(upload, "size", 0) or 0)
    if size > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(
            _("The file is larger than 5 MB."),
            errors={"file": [_("The file is larger than 5 MB.")]},
        )
    upload.seek(0)
    data = upload.read(MAX_IMPORT_BYTES + 1)
    upload.seek(0)
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(
            _("The file is larger than 5 MB."),
            errors={"file": [_("The file is larger than 5 MB.")]},
        )
    if not data:
        raise _file_error(_("The file is empty."))
    return data


def _archive_error(message: str, exc: type[DomainError] = ValidationFailed) -> DomainError:
    return exc(message, errors={"evidence_zip": [message]})


def _unsafe_name(name: str) -> bool:
    """A name that is not a plain path inside the archive (absolute, a drive, ``..``)."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts


def archive_files(data: bytes) -> dict[str, zipfile.ZipInfo]:
    """The zip's files by name, checked for what can be checked without unpacking;
    ``ValidationFailed`` on ``evidence_zip`` naming what is wrong."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        raise _archive_error(
            _("The evidence file is not a zip archive."), UnsupportedMediaType
        ) from None
    files: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if _unsafe_name(info.filename):
            raise _archive_error(
                _("The zip holds “%(name)s”, outside its own folder; such zips are not accepted.")
                % {"name": info.filename[:200]}
            )
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise _archive_error(
                _("“%(name)s” in the zip is encrypted.") % {"name": info.filename[:200]}
            )
        if info.file_size > settings.MAX_ATTACHMENT_BYTES:
            raise _archive_error(
                _("“%(name)s” in the zip is larger than 20 MB.") % {"name": info.filename[:200]}
            )
        if info.filename in files:
            raise _archive_error(
                _("The zip holds “%(name)s” twice.") % {"name": info.filename[:200]}
            )
        files[info.filename] = info
        if len(files) > MAX_ARCHIVE_FILES:
            raise _archive_error(
                _("A zip may hold at most %(n)d files.") % {"n": MAX_ARCHIVE_FILES}
            )
    if not files:
        raise _archive_error(_("The zip holds no files."))
    return files


def _read_archive_upload(upload: Any) -> bytes:
    size = int(getattr(upload, "size", 0) or 0)
    message = _("The zip is larger than %(n)d MB.") % {"n": MAX_ARCHIVE_BYTES // (1024 * 1024)}
    if size > MAX_ARCHIVE_BYTES:
        raise _archive_error(message, PayloadTooLarge)
    upload.seek(0)
    data = upload.read(MAX_ARCHIVE_BYTES + 1)
    upload.seek(0)
    if len(data) > MAX_ARCHIVE_BYTES:
        raise _archive_error(message, PayloadTooLarge)
    return data


def _job_path(job: ImportJob) -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT) / job.storage_name


def measurements_import_csv(
    *, project: Project, actor: Actor, file: Any, evidence_zip: Any = None
) -> ImportJob:
    """Check and store an uploaded CSV (and the zip of its evidence files), queue its
    import; the job is returned at once.

    Guarantees: only someone who may record measurements on the (visible, active) project
    may import; the file is checked for size (≤ 5 MB), UTF-8, its header and its row count
    (≤ 10,000), and the zip as ``archive_files`` says, before anything is stored; the job
    row and its audit event are written in one transaction with the files already on disk
    (removed again if that fails), and the task is enqueued only after the commit.
    """
    if not projects_visible_to(actor).filter(pk=project.pk).exists():
        raise NotFound()
    allowed, reason = can_record_measurement(actor, project)
    if not allowed:
        raise PermissionDenied(reason)
    data = _read_upload(file)
    parsed = parse_csv(data)
    archive = b""
    archive_name = ""
    if evidence_zip is not None:
        archive = _read_archive_upload(evidence_zip)
        archive_files(archive)
        if EVIDENCE_COLUMN not in parsed.header:
            message = _("With a zip of evidence files, the file needs the column %(column)s.") % {
                "column": EVIDENCE_COLUMN
            }
            raise ValidationFailed(message, errors={"file": [message]})
        archive_name = (
            Path(str(getattr(evidence_zip, "name", "") or "")).name[:200] or "evidence.zip"
        )
    name = Path(str(getattr(file, "name", "") or "")).name[:200] or "measurements.csv"
    storage_name = f"imports/{project.pk}/{uuid.uuid4().hex}.csv"
    archive_storage = f"imports/{project.pk}/{uuid.uuid4().hex}.zip" if archive else ""
    target = Path(settings.PRIVATE_MEDIA_ROOT) / storage_name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    if archive:
        (Path(settings.PRIVATE_MEDIA_ROOT) / archive_storage).write_bytes(archive)
    try:
        with transaction.atomic():
            locked = Project.objects.select_for_update(of=("self",), no_key=True).get(pk=project.pk)
            require_active(locked)
            job = ImportJob.objects.create(
                project=locked,
                original_name=name,
                storage_name=storage_name,
                evidence_archive_name=archive_name,
                evidence_archive_storage=archive_storage,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                language=(translation.get_language() or settings.LANGUAGE_CODE)[:8],
                progress_total=len(parsed.rows),
                created_by=actor if isinstance(actor, User) else None,
                created_by_api_key=actor if isinstance(actor, ApiKey) else None,
            )
            audit_record(
                actor=actor,
                action="measurement_import.queued",
                obj=job,
                after={
                    "project": locked.pk,
                    "file": name,
                    "rows": len(parsed.rows),
                    "sha256": job.sha256,
                    **(
                        {
                            "evidence_zip": archive_name,
                            "evidence_zip_sha256": hashlib.sha256(archive).hexdigest(),
                        }
                        if archive
                        else {}
                    ),
                },
            )
            from projects.tasks import import_measurements

            job_id = job.pk
            # Robust: with the broker down the upload still succeeds; reconcile_imports
            # enqueues it again once the broker is back.
            transaction.on_commit(lambda: import_measurements.delay(job_id), robust=True)
    except BaseException:
        target.unlink(missing_ok=True)
        if archive_storage:
            (Path(settings.PRIVATE_MEDIA_ROOT) / archive_storage).unlink(missing_ok=True)
        raise
    return job


# --------------------------------------------------------------------------- running


def _transition(job: ImportJob, target: str) -> None:
    """The import task moves its job (the fund's own work, no person acting)."""
    IMPORT_WORKFLOW.move(job, target, actor=None)


def _report_progress(job_id: int, done: int) -> None:
    """Committed at once (outside any transaction in the worker) so the browser sees it."""
    ImportJob.objects.filter(pk=job_id).update(progress_done=done)


@dataclass(frozen=True)
class CleanRow:
    line: int
    kpi: KPI
    value: Decimal
    measured_at: datetime
    note: str
    evidence: tuple[str, ...] = ()  # names in the zip


class ArchiveReader:
    """The job's zip: each named file read once (bounded), checked like a browser upload;
    remembers which were named."""

    def __init__(self, data: bytes) -> None:
        self.files = archive_files(data)
        self.zip = zipfile.ZipFile(io.BytesIO(data))
        self.checked: dict[str, tuple[bytes, Evidence] | str] = {}

    def check(self, name: str) -> str | None:
        """The problem with the named file, or ``None`` when it may be imported."""
        if _unsafe_name(name):
            return _("“%(name)s” is not a plain file name in the zip.") % {"name": name[:200]}
        info = self.files.get(name)
        if info is None:
            return _("“%(name)s” is not in the zip.") % {"name": name[:200]}
        if name not in self.checked:
            self.checked[name] = self._read(info)
        found = self.checked[name]
        return found if isinstance(found, str) else None

    def _read(self, info: zipfile.ZipInfo) -> tuple[bytes, Evidence] | str:
        limit = settings.MAX_ATTACHMENT_BYTES
        bomb = _("“%(name)s” unpacks to far more than it holds; it looks like a zip bomb.") % {
            "name": info.filename[:200]
        }
        if info.file_size > BOMB_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            return bomb
        try:
            with self.zip.open(info) as handle:
                data = handle.read(limit + 1)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
            return _("“%(name)s” in the zip cannot be read.") % {"name": info.filename[:200]}
        if len(data) > limit:
            return bomb
        upload = SimpleUploadedFile(Path(info.filename).name, data)
        try:
            return data, check_evidence(upload, field=EVIDENCE_COLUMN)
        except DomainError as exc:
            return str(exc.message)

    def unused(self) -> list[str]:
        return sorted(set(self.files) - set(self.checked))

    def store(self, project_id: int) -> dict[str, StoredEvidence]:
        """Write every named file that passed, once each, outside the web root."""
        stored: dict[str, StoredEvidence] = {}
        try:
            for name, found in self.checked.items():
                if isinstance(found, str):
                    continue
                data, evidence = found
                stored[name] = store_evidence(
                    SimpleUploadedFile(evidence.name, data), project_id, evidence
                )
        except BaseException:
            remove_stored(stored.values())
            raise
        return stored


def _evidence_names(cell: str | None) -> tuple[str, ...]:
    names = [n.strip() for n in (cell or "").split(EVIDENCE_SEPARATOR)]
    return tuple(dict.fromkeys(n for n in names if n))


def _check_rows(
    job: ImportJob, parsed: ParsedFile, archive: ArchiveReader | None = None
) -> tuple[list[CleanRow], list[dict]]:
    """Check every row (and the files it names); commit progress as it goes. Returns the
    clean rows and the errors."""
    kpis = {k.code: k for k in KPI.objects.filter(project_id=job.project_id)}
    folded = {code.casefold(): k for code, k in kpis.items()}
    clean: list[CleanRow] = []
    errors: list[dict] = []
    now = timezone.now()
    step = max(1, len(parsed.rows) // PROGRESS_STEPS)
    for index, (line, cells) in enumerate(parsed.rows, start=1):
        problems = Problems()
        code = (cells.get("kpi_code") or "").strip()
        kpi = kpis.get(code) or folded.get(code.casefold())
        if not code:
            problems.add("kpi_code", _("This field is required."))
        elif kpi is None:
            problems.add(
                "kpi_code",
                _("No KPI of this project has the code “%(code)s”.") % {"code": code[:40]},
            )
        value = clean_value(problems, "value", cells.get("value"))
        measured_at = clean_measured_at(problems, "measured_at", cells.get("measured_at"), now=now)
        note = clean_note(problems, "note", cells.get("note", ""))
        names = _evidence_names(cells.get(EVIDENCE_COLUMN))
        if names and archive is None:
            problems.add(
                EVIDENCE_COLUMN, _("This row names evidence files, but no zip came with the file.")
            )
        elif archive is not None:
            for name in names:
                refused = archive.check(name)
                if refused:
                    problems.add(EVIDENCE_COLUMN, refused)
        if "__extra__" in cells:
            problems.add("", _("This row has more cells than the header has columns."))
        for problem in problems.items:
            errors.append({"row": line, "field": problem.field, "message": problem.message})
        if not problems:
            assert kpi is not None and value is not None and measured_at is not None
            clean.append(CleanRow(line, kpi, value, measured_at, note, names))
        if index % step == 0 or index == len(parsed.rows):
            _report_progress(job.pk, index)
    if archive is not None:
        for name in archive.unused():
            errors.append(
                {
                    "row": 1,
                    "field": EVIDENCE_COLUMN,
                    "message": _("“%(name)s” in the zip is named by no row.")
                    % {"name": name[:200]},
                }
            )
    return clean, errors


def _finish_failed(job_id: int, *, errors: list[dict], message: str) -> ImportJob:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update(of=("self",)).get(pk=job_id)
        if job.finished:
            return job
        before = job.state
        _transition(job, ImportState.FAILED)
        job.errors = errors
        job.message = message
        job.finished_at = timezone.now()
        job.save(update_fields=["state", "errors", "message", "finished_at"])
        audit_record(
            actor=job.created_by or job.created_by_api_key,
            action="measurement_import.failed",
            obj=job,
            before={"state": before},
            after={"state": job.state, "errors": len(errors), "message": message},
        )
    return job


def measurements_import_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import: every row is checked, then all are written or none.

    Idempotent and safe under redelivery: a finished job is left alone; a job left
    ``running`` by a worker that died is checked again from the start (nothing of it was
    written); the rows and the ``succeeded`` state commit together, under the job's row lock,
    so two workers on the same job write its rows once. The uploader's permission and the
    project's state are checked again when writing. Messages are in the uploader's language.
    """
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(of=("self",))
            .select_related("project", "created_by", "created_by_api_key")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.finished:
            return job
        before = job.state
        _transition(job, ImportState.RUNNING)
        job.started_at = timezone.now()
        job.progress_done = 0
        job.save(update_fields=["state", "started_at", "progress_done"])
        audit_record(
            actor=None,
            action="measurement_import.started",
            obj=job,
            before={"state": before},
            # A job found running was left by a worker that died: checked again from the start.
            after={"state": job.state, "restarted": before == ImportState.RUNNING},
        )
    actor: Actor | None = job.created_by or job.created_by_api_key
    with translation.override(job.language or settings.LANGUAGE_CODE):
        try:
            parsed = parse_csv(_job_path(job).read_bytes())
        except FileNotFoundError:
            return _finish_failed(
                job_id, errors=[], message=_("The uploaded file is no longer available.")
            )
        except ValidationFailed as exc:
            return _finish_failed(job_id, errors=[], message=str(exc.message))
        archive: ArchiveReader | None = None
        if job.evidence_archive_storage:
            try:
                archive = ArchiveReader(
                    (Path(settings.PRIVATE_MEDIA_ROOT) / job.evidence_archive_storage).read_bytes()
                )
            except FileNotFoundError:
                return _finish_failed(
                    job_id, errors=[], message=_("The uploaded file is no longer available.")
                )
            except ValidationFailed as exc:
                return _finish_failed(job_id, errors=[], message=str(exc.message))
        clean, errors = _check_rows(job, parsed, archive)
        if errors:
            return _finish_failed(
                job_id,
                errors=errors,
                message=_(
                    "%(n)d row(s) have errors; nothing was imported. Correct the file and "
                    "upload it again."
                )
                % {"n": len({e["row"] for e in errors})},
            )
        allowed, reason = can_record_measurement(actor, job.project)
        if not allowed:
            return _finish_failed(job_id, errors=[], message=reason)
        stored = archive.store(job.project_id) if archive is not None else {}
        try:
            with transaction.atomic():
                locked_job = ImportJob.objects.select_for_update(of=("self",)).get(pk=job_id)
                if locked_job.finished:
                    remove_stored(stored.values())
                    return locked_job
                project = Project.objects.select_for_update(of=("self",), no_key=True).get(
                    pk=job.project_id
                )
                require_active(project)
                created = Measurement.objects.bulk_create(
                    [
                        Measurement(
                            project=project,
                            kpi=row.kpi,
                            value=row.value,
                            measured_at=row.measured_at,
                            note=row.note,
                            source=MeasurementSource.IMPORT,
                            created_by=job.created_by,
                            created_by_api_key=job.created_by_api_key,
                        )
                        for row in clean
                    ]
                )
                files = MeasurementEvidence.objects.bulk_create(
                    [
                        MeasurementEvidence(
                            measurement=measurement,
                            name=stored[name].name,
                            storage=stored[name].storage,
                            content_type=stored[name].content_type,
                            size=stored[name].size,
                            sha256=stored[name].sha256,
                        )
                        for row, measurement in zip(clean, created, strict=True)
                        for name in row.evidence
                    ]
                )
                by_measurement: dict[str, list[MeasurementEvidence]] = {}
                for evidence in files:
                    by_measurement.setdefault(str(evidence.measurement_id), []).append(evidence)
                _transition(locked_job, ImportState.SUCCEEDED)
                locked_job.imported_count = len(created)
                locked_job.progress_done = locked_job.progress_total
                locked_job.finished_at = timezone.now()
                locked_job.message = _("%(n)d measurement(s) imported.") % {"n": len(created)}
                locked_job.save(
                    update_fields=[
                        "state",
                        "imported_count",
                        "progress_done",
                        "finished_at",
                        "message",
                    ]
                )
                audit_record(
                    actor=actor,
                    action="measurement.imported",
                    obj=locked_job,
                    before={"state": ImportState.RUNNING},
                    after={
                        "state": locked_job.state,
                        "project": project.pk,
                        "count": len(created),
                        "measurements": [m.pk for m in created],
                        "evidence_files": {
                            pk: evidence_listed(items) for pk, items in by_measurement.items()
                        },
                    },
                )
                # One measurement.created per row, written in one insert.
                organisations = project_organisation_ids([project.pk])[project.pk]
                event_record_many(
                    [
                        Event(
                            kind="measurement.created",
                            obj=measurement,
                            organisation_ids=organisations,
                            payload=measurement_data(measurement),
                        )
                        for measurement in created
                    ]
                )
                return locked_job
        except Conflict as exc:  # the project left "active" after the upload
            remove_stored(stored.values())
            return _finish_failed(job_id, errors=[], message=str(exc.message))
        except BaseException:
            remove_stored(stored.values())
            raise
