"""manage.py import_restricted_parties FILE.csv (§11, §21)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fundapp.audit.models import AuditEvent
from fundapp.screening.models import RestrictedParty

pytestmark = pytest.mark.django_db

GOOD = (
    "name,aliases,country,source\n"
    "東洋電子株式会社,Toyo Denshi Co. Ltd.; TOYO ELECTRONICS ;,JP,METI end-user list\n"
    '"Northwind Dynamics, LLC",Northwind Dyn,us,Entity List\n'
    "(주)한빛반도체,,KR,Strategic goods list\n"
)


def run(tmp_path, text: str | bytes, *args: str) -> str:
    path = tmp_path / "parties.csv"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    out = StringIO()
    call_command("import_restricted_parties", str(path), *args, stdout=out)
    return out.getvalue()


def test_good_file_imports_every_row_with_normalized_names(tmp_path):
    out = run(tmp_path, GOOD)

    assert "3 created, 0 updated, 0 unchanged" in out
    toyo = RestrictedParty.objects.get(source="METI end-user list")
    assert toyo.name == "東洋電子株式会社"
    assert toyo.aliases == ["Toyo Denshi Co. Ltd.", "TOYO ELECTRONICS"]
    assert toyo.normalized_name == "東洋電子"
    assert toyo.normalized_names == ["東洋電子", "toyo denshi", "toyo electronics"]
    assert toyo.active
    northwind = RestrictedParty.objects.get(source="Entity List")
    assert northwind.country == "US"  # upper-cased
    assert northwind.normalized_names == ["northwind dynamics", "northwind dyn"]
    hanbit = RestrictedParty.objects.get(country="KR")
    assert hanbit.aliases == [] and hanbit.normalized_names == ["한빛반도체"]
    event = AuditEvent.objects.get(action="screening.restricted_parties_imported")
    assert event.after is not None
    assert event.after["created"] == 3 and event.actor_label == "system"


def test_byte_order_mark_is_accepted(tmp_path):
    out = run(tmp_path, "\ufeff" + GOOD)

    assert "3 created" in out
    assert RestrictedParty.objects.filter(name="東洋電子株式会社").exists()


def test_headers_in_any_case_and_order(tmp_path):
    run(tmp_path, "Source, COUNTRY ,Name,Aliases\nEntity List,CN,Example Tech Co Ltd,\n")

    party = RestrictedParty.objects.get()
    assert (party.name, party.country, party.source) == ("Example Tech Co Ltd", "CN", "Entity List")
    assert party.normalized_name == "example tech"


def test_bad_rows_are_all_reported_by_number_and_nothing_is_imported(tmp_path):
    text = (
        "name,aliases,country,source\n"
        "Good Party Ltd,,JP,List A\n"  # row 2: fine
        ",,JP,List A\n"  # row 3: no name
        "Bad Country Inc,,Japan,List A\n"  # row 4: country
        "No Source Corp,,US,\n"  # row 5: source
        "Good Party Limited,,JP,List A\n"  # row 6: same key as row 2
        "Too,many,fields,here,extra\n"  # row 7
        "!!!,,JP,List A\n"  # row 8: nothing left after normalization
    )
    with pytest.raises(CommandError) as excinfo:
        run(tmp_path, text)

    message = str(excinfo.value)
    assert "nothing was imported" in message
    for row in ("Row 3", "Row 4", "Row 5", "Row 6", "Row 7", "Row 8"):
        assert row in message
    assert "Row 2" not in message
    assert "row 2" in message  # row 6 names the row it duplicates
    assert RestrictedParty.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="screening.").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"name,country,source\nAcme,JP,X\n", "missing column(s): aliases"),
        (b"", "missing column(s)"),
        ("name,aliases,country,source\nAcme,,JP,X\n".encode("utf-16"), "not UTF-8"),
        (b"name,aliases,country,source\n\xff\xfeAcme,,JP,X\n", "not UTF-8"),
    ],
)
def test_unreadable_files_are_refused(tmp_path, content, expected):
    with pytest.raises(CommandError) as excinfo:
        run(tmp_path, content)
    assert expected in str(excinfo.value)
    assert RestrictedParty.objects.count() == 0


def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_restricted_parties", str(tmp_path / "nope.csv"))


def test_reimport_is_idempotent_and_updates_by_key(tmp_path):
    run(tmp_path, GOOD)
    first_ids = dict(RestrictedParty.objects.values_list("normalized_name", "pk"))
    events = AuditEvent.objects.count()

    out = run(tmp_path, GOOD)

    assert "0 created, 0 updated, 3 unchanged" in out
    assert dict(RestrictedParty.objects.values_list("normalized_name", "pk")) == first_ids
    assert AuditEvent.objects.count() == events  # nothing changed, nothing recorded

    # The same party spelled differently (same normalized name, country, source) updates.
    changed = GOOD.replace(
        "東洋電子株式会社,Toyo Denshi Co. Ltd.; TOYO ELECTRONICS ;",
        "株式会社東洋電子,Toyo Denshi Co. Ltd.;Toyo Elec",
    )
    out = run(tmp_path, changed)

    assert "0 created, 1 updated, 2 unchanged" in out
    toyo = RestrictedParty.objects.get(pk=first_ids["東洋電子"])
    assert toyo.name == "株式会社東洋電子"
    assert toyo.normalized_names == ["東洋電子", "toyo denshi", "toyo elec"]
    assert RestrictedParty.objects.count() == 3


def test_same_name_from_another_source_is_another_party(tmp_path):
    run(tmp_path, GOOD)
    run(tmp_path, "name,aliases,country,source\n東洋電子(株),,JP,Other list\n")

    assert RestrictedParty.objects.filter(normalized_name="東洋電子").count() == 2


def test_deactivate_missing_delists_only_that_source(tmp_path):
    run(tmp_path, GOOD)
    out = run(
        tmp_path,
        "name,aliases,country,source\n東洋電子株式会社,,JP,METI end-user list\n",
        "--deactivate-missing",
    )
    assert "0 deactivated" in out  # the one METI party is still listed
    run(
        tmp_path,
        "name,aliases,country,source\nSomeone Else Ltd,,JP,Entity List\n",
        "--deactivate-missing",
    )

    assert not RestrictedParty.objects.get(normalized_name="northwind dynamics").active
    assert RestrictedParty.objects.get(normalized_name="東洋電子").active
    assert RestrictedParty.objects.get(normalized_name="한빛반도체").active

    # Listed again: active again.
    run(tmp_path, GOOD)
    assert RestrictedParty.objects.get(normalized_name="northwind dynamics").active


def test_header_only_file_imports_nothing(tmp_path):
    out = run(tmp_path, "name,aliases,country,source\n\n")
    assert "Imported 0 restricted parties" in out
