"""The upload paths refuse a PDF with active content, with a translated error on the field
(§17): proposal attachments over the API, measurement evidence in the service."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Attachment
from tests.factories.proposals import complete_proposal
from tests.factories.proposals_api import assert_problem, detail_url, user_client
from tests.uploads.test_pdf import JS_ACTION, pdf

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "This PDF contains JavaScript; PDFs with scripts are not accepted."),
        ("ja", "このPDFにはJavaScriptが含まれています。スクリプトを含むPDFは受け付けません。"),
        ("ko", "이 PDF에는 JavaScript가 포함되어 있습니다. 스크립트가 포함된 PDF는 받지 않습니다."),
    ],
)
def test_an_attachment_with_javascript_is_refused_on_its_field(language, message):
    proposal, c = complete_proposal()
    c.pi_jp.preferred_language = language
    c.pi_jp.save(update_fields=["preferred_language"])
    before = Attachment.objects.filter(proposal=proposal).count()
    upload = SimpleUploadedFile(
        "plan.pdf", pdf(b"/OpenAction 5 0 R", JS_ACTION), content_type="application/pdf"
    )

    response = user_client(c.pi_jp).post(
        f"{detail_url(proposal)}attachments/",
        {"file": upload},
        HTTP_ACCEPT_LANGUAGE=language,
    )

    body = assert_problem(response, 422)
    assert body["errors"] == {"file": [message]}
    assert Attachment.objects.filter(proposal=proposal).count() == before


def test_an_attachment_with_trailing_data_is_refused_and_a_clean_one_accepted():
    proposal, c = complete_proposal()
    client = user_client(c.pi_jp)
    url = f"{detail_url(proposal)}attachments/"
    trailing = SimpleUploadedFile("plan.pdf", pdf(tail=b"%%EOF\nMZ\x90\x00"))
    body = assert_problem(client.post(url, {"file": trailing}), 422)
    assert "end-of-file" in body["errors"]["file"][0]
    clean = SimpleUploadedFile("plan.pdf", pdf())
    assert client.post(url, {"file": clean}).status_code == 201
