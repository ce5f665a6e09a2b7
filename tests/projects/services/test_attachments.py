"""§5 attachments: PDF by content, ≤ 20 MB, ≤ 10 per proposal, stored outside the web root;
a refused upload leaves no row, no event and no file."""

import hashlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from fundapp.audit.models import AuditEvent
from fundapp.errors import PayloadTooLarge, PermissionDenied, UnsupportedMediaType, ValidationFailed
from projects.models import Attachment
from projects.services import proposals as svc
from tests.factories import member_of
from tests.factories.proposals import MINIMAL_PDF, complete_proposal, pdf_upload

from .refusals import refused, stored_files, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


def upload(name, content):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def padded_pdf(size: int) -> bytes:
    """A PDF of exactly ``size`` bytes (a comment pads the body)."""
    head, tail = MINIMAL_PDF[:-6], MINIMAL_PDF[-6:]  # tail is b"%%EOF\n"
    return head + b"%" + b"x" * (size - len(MINIMAL_PDF) - 2) + b"\n" + tail


def test_a_pdf_is_stored_under_the_private_root_outside_the_web_root(private_media):
    proposal, c = complete_proposal()
    version = proposal.version
    audit_before = AuditEvent.objects.count()

    attachment = svc.attachment_add(
        proposal=proposal, actor=c.pi_kr, upload=pdf_upload("CV 履歴書.pdf"), kind="cv"
    )

    path = svc.attachment_path(attachment)
    assert path.read_bytes() == MINIMAL_PDF
    assert path.resolve().is_relative_to(Path(private_media).resolve())
    for public in (settings.STATIC_ROOT, *settings.STATICFILES_DIRS, settings.MEDIA_ROOT or None):
        if public:
            assert not path.resolve().is_relative_to(Path(public).resolve())
    assert attachment.original_name == "CV 履歴書.pdf" and attachment.kind == "cv"
    assert attachment.size == len(MINIMAL_PDF)
    assert attachment.sha256 == hashlib.sha256(MINIMAL_PDF).hexdigest()
    assert attachment.storage_name.endswith(".pdf") and "履歴書" not in attachment.storage_name
    proposal.refresh_from_db()
    assert proposal.version == version + 1
    [event] = AuditEvent.objects.order_by("id")[audit_before:]
    assert event.action == "proposal.attachment_added"
    assert event.after is not None
    assert event.after["attachment"] == attachment.pk


NOT_PDF = {
    "text renamed .pdf": b"Research plan\nWe will build a chip.\n",
    "ELF executable": b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200,
    "Windows executable": b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200 + b"%%EOF",
    "PNG image": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
    "PDF header but truncated": MINIMAL_PDF[:60],
    "PDF magic not at the start": b"junk" + MINIMAL_PDF,
}


@pytest.mark.parametrize("content", NOT_PDF.values(), ids=NOT_PDF.keys())
def test_a_file_that_is_not_a_pdf_is_refused_whatever_its_name(content):
    proposal, c = complete_proposal()
    with refused(
        proposal, UnsupportedMediaType, field="file", message="This file is not a PDF document."
    ):
        svc.attachment_add(proposal=proposal, actor=c.pi_jp, upload=upload("plan.pdf", content))
    assert Attachment.objects.filter(proposal=proposal).count() == 1


def test_a_file_over_20_mb_is_refused_and_not_stored():
    proposal, c = complete_proposal()
    too_big = padded_pdf(settings.MAX_ATTACHMENT_BYTES + 1)
    with refused(proposal, PayloadTooLarge, field="file", message="larger than 20 MB"):
        svc.attachment_add(proposal=proposal, actor=c.pi_jp, upload=upload("big.pdf", too_big))


def test_a_file_of_exactly_20_mb_is_accepted():
    proposal, c = complete_proposal()
    content = padded_pdf(settings.MAX_ATTACHMENT_BYTES)
    attachment = svc.attachment_add(
        proposal=proposal, actor=c.pi_jp, upload=upload("big.pdf", content)
    )
    assert attachment.size == settings.MAX_ATTACHMENT_BYTES
    assert svc.attachment_path(attachment).stat().st_size == settings.MAX_ATTACHMENT_BYTES


def test_an_empty_file_is_refused():
    proposal, c = complete_proposal()
    with refused(proposal, ValidationFailed, field="file", message="The file is empty."):
        svc.attachment_add(proposal=proposal, actor=c.pi_jp, upload=upload("plan.pdf", b""))


def test_the_eleventh_attachment_is_refused_and_its_file_removed():
    proposal, c = complete_proposal()  # one research plan already
    for n in range(9):
        svc.attachment_add(proposal=proposal, actor=c.pi_jp, upload=pdf_upload(f"annex{n}.pdf"))
    assert len(stored_files()) == 10

    with refused(
        proposal, ValidationFailed, field="file", message="A proposal has at most 10 attachments."
    ):
        svc.attachment_add(proposal=proposal, actor=c.pi_jp, upload=pdf_upload("annex10.pdf"))
    assert len(stored_files()) == 10


def test_someone_who_may_not_edit_cannot_upload_and_leaves_no_file():
    proposal, c = complete_proposal()
    stranger = member_of(c.jp)
    with refused(proposal, PermissionDenied):
        svc.attachment_add(proposal=proposal, actor=stranger, upload=pdf_upload())


def test_an_unknown_kind_is_refused():
    proposal, c = complete_proposal()
    with refused(proposal, ValidationFailed, field="kind"):
        svc.attachment_add(proposal=proposal, actor=c.pi_jp, upload=pdf_upload(), kind="video")


def test_without_a_research_plan_the_proposal_cannot_be_submitted():
    proposal, c = complete_proposal()
    plan = Attachment.objects.get(proposal=proposal, kind=Attachment.Kind.RESEARCH_PLAN)
    svc.attachment_add(proposal=proposal, actor=c.pi_jp, upload=pdf_upload("cv.pdf"), kind="cv")
    svc.attachment_remove(attachment=plan, actor=c.pi_jp)
    with refused(proposal, field="attachments", message="Attach the research plan as a PDF."):
        submit(proposal, c.pi_jp)


def test_removing_an_attachment_deletes_its_file_after_commit(django_capture_on_commit_callbacks):
    proposal, c = complete_proposal()
    attachment = Attachment.objects.get(proposal=proposal)
    path = svc.attachment_path(attachment)
    with django_capture_on_commit_callbacks(execute=True):
        svc.attachment_remove(attachment=attachment, actor=c.pi_jp)
    assert not path.exists()
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
