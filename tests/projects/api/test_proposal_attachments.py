"""Attachments over the API: PDF by content, 20 MB streamed, permission-checked download."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.http.response import HttpResponseBase

from projects.models import Attachment
from projects.services import proposals as svc
from tests.factories import jp_org, member_of
from tests.factories.proposals import MINIMAL_PDF, complete_proposal, pdf_upload, submitted_proposal
from tests.factories.proposals_api import (
    READ,
    WRITE,
    assert_problem,
    detail_url,
    key_client,
    team_proposal,
    user_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]

MB = 1024 * 1024


def upload_url(proposal) -> str:
    return f"{detail_url(proposal)}attachments/"


def attachment_url(proposal, attachment_id) -> str:
    return f"{detail_url(proposal)}attachments/{attachment_id}/"


def download(client, url, **headers) -> tuple[int, bytes, HttpResponseBase]:
    response = client.get(url, **headers)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, content, response


@pytest.fixture
def spy_attachment_add(monkeypatch):
    """Records what the view hands the service, to see the upload was streamed to disk."""
    seen: list[object] = []
    real = svc.attachment_add

    def spy(**kwargs):
        seen.append(kwargs["upload"])
        return real(**kwargs)

    monkeypatch.setattr(svc, "attachment_add", spy)
    return seen


def test_a_real_pdf_is_attached_and_downloaded_by_the_consortium():
    proposal, c = complete_proposal()
    client = user_client(c.pi_jp)

    response = client.post(
        upload_url(proposal), {"file": pdf_upload("results.pdf"), "kind": "letter"}
    )

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["kind"] == "letter"
    assert data["name"] == "results.pdf"
    assert data["size"] == len(MINIMAL_PDF)
    assert response["Location"] == data["download_url"]
    status, content, download_response = download(client, data["download_url"])
    assert status == 200
    assert content == MINIMAL_PDF
    assert download_response["Content-Type"] == "application/pdf"
    assert download_response["Content-Disposition"].startswith("attachment;")
    assert "results.pdf" in download_response["Content-Disposition"]
    # a client that asks for the PDF by Accept gets it too
    status, content, _r = download(
        user_client(c.pi_kr), data["download_url"], HTTP_ACCEPT="application/pdf"
    )
    assert (status, content) == (200, MINIMAL_PDF)


def test_download_by_another_organisation_is_404():
    proposal, c = submitted_proposal()
    attachment = proposal.attachments.get()
    url = attachment_url(proposal, attachment.pk)
    stranger_org = jp_org()

    assert_problem(user_client(member_of(stranger_org)).get(url), 404)
    assert_problem(key_client(stranger_org).get(url, HTTP_ACCEPT="application/pdf"), 404)
    # the lead's partner system may, once submitted
    status, content, _r = download(key_client(c.kr, scopes=[READ]), url)
    assert (status, content) == (200, MINIMAL_PDF)


def test_an_attachment_is_only_reachable_through_its_own_proposal():
    proposal, c = complete_proposal()
    other, _c2 = complete_proposal(None)
    foreign_attachment = other.attachments.get()
    client = user_client(c.pi_jp)
    assert_problem(client.get(attachment_url(proposal, foreign_attachment.pk)), 404)
    assert_problem(client.get(attachment_url(proposal, "abc")), 404)


@pytest.mark.parametrize(
    "content",
    [b"Just some notes, not a PDF.\n", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200],
    ids=["text_file", "windows_exe"],
)
def test_a_renamed_file_is_415(content):
    proposal, c = complete_proposal()
    upload = SimpleUploadedFile("plan.pdf", content, content_type="application/pdf")

    response = user_client(c.pi_jp).post(upload_url(proposal), {"file": upload})

    body = assert_problem(response, 415)
    assert "file" in body["errors"]
    assert proposal.attachments.count() == 1


def _big_file(path, size: int):
    """A file of ``size`` bytes on disk, written sparsely rather than held in memory."""
    with open(path, "wb") as out:
        out.write(b"%PDF-1.4\n")
        out.seek(size - 6)
        out.write(b"%%EOF\n")
    return path


def test_just_over_20_mb_is_streamed_to_disk_and_refused_413(tmp_path, spy_attachment_add):
    proposal, c = complete_proposal()
    spy_attachment_add.clear()
    path = _big_file(tmp_path / "big.pdf", 20 * MB + 1)

    with open(path, "rb") as handle:
        response = user_client(c.pi_jp).post(upload_url(proposal), {"file": handle})

    body = assert_problem(response, 413)
    assert "file" in body["errors"]
    (upload,) = spy_attachment_add
    assert isinstance(upload, TemporaryUploadedFile)
    assert proposal.attachments.count() == 1


def test_far_over_20_mb_is_refused_before_the_body_is_parsed(tmp_path, spy_attachment_add):
    proposal, c = complete_proposal()
    client = key_client(c.jp)
    draft = client.post("/api/v1/proposals/", {"call": c.call.pk}, format="json").json()
    path = _big_file(tmp_path / "huge.pdf", 25 * MB)
    spy_attachment_add.clear()

    with open(path, "rb") as handle:
        response = client.post(upload_url(draft["id"]), {"file": handle})

    assert_problem(response, 413)
    assert spy_attachment_add == []


def test_exactly_20_mb_is_accepted(tmp_path):
    proposal, c = complete_proposal()
    path = _big_file(tmp_path / "max.pdf", 20 * MB)
    with open(path, "rb") as handle:
        response = user_client(c.pi_jp).post(upload_url(proposal), {"file": handle})
    assert response.status_code == 201, response.content
    assert response.json()["size"] == 20 * MB


def test_upload_mistakes():
    proposal, c = complete_proposal()
    client = user_client(c.pi_jp)
    assert (
        "file" in assert_problem(client.post(upload_url(proposal), {"kind": "cv"}), 400)["errors"]
    )
    bad_kind = client.post(upload_url(proposal), {"file": pdf_upload(), "kind": "selfie"})
    assert "kind" in assert_problem(bad_kind, 422)["errors"]
    as_json = client.post(upload_url(proposal), {"kind": "cv"}, format="json")
    assert_problem(as_json, 415)


def test_at_most_ten_attachments():
    proposal, c = complete_proposal()
    for _ in range(9):
        svc.attachment_add(proposal=proposal, actor=c.pi_jp, upload=pdf_upload())
    response = user_client(c.pi_jp).post(upload_url(proposal), {"file": pdf_upload()})
    assert "file" in assert_problem(response, 422)["errors"]


def test_only_editors_attach_and_only_to_drafts():
    team = team_proposal()
    assert_problem(
        user_client(team.co_investigator).post(upload_url(team.proposal), {"file": pdf_upload()}),
        403,
    )
    submitted = svc.proposal_submit(proposal=team.proposal, actor=team.c.pi_jp)
    assert_problem(
        user_client(team.c.pi_jp).post(upload_url(submitted), {"file": pdf_upload()}), 403
    )


def test_delete_removes_the_attachment_and_its_file(django_capture_on_commit_callbacks):
    proposal, c = complete_proposal()
    attachment = proposal.attachments.get()
    path = svc.attachment_path(attachment)
    assert path.exists()
    url = attachment_url(proposal, attachment.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = user_client(c.pi_jp).delete(url)

    assert response.status_code == 204
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
    assert not path.exists()
    assert_problem(user_client(c.pi_jp).get(url), 404)


def test_delete_needs_edit_rights_and_the_write_scope():
    team = team_proposal()
    attachment = team.proposal.attachments.get()
    assert_problem(
        user_client(team.co_investigator).delete(attachment_url(team.proposal, attachment.pk)),
        403,
    )
    # a draft made by the lead's own system, read by a key of the same organisation
    writer = key_client(team.c.jp, scopes=[READ, WRITE])
    draft = writer.post("/api/v1/proposals/", {"call": team.c.call.pk}, format="json").json()
    uploaded = writer.post(upload_url(draft["id"]), {"file": pdf_upload()}).json()
    reader = key_client(team.c.jp, scopes=[READ])
    url = attachment_url(draft["id"], uploaded["id"])
    assert download(reader, url)[0] == 200
    assert_problem(reader.delete(url), 403)
    assert writer.delete(url).status_code == 204
