"""The ORCID iD a person carries (§22): its format and its ISO 7064 11,2 check digit."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from hypothesis import given
from hypothesis import strategies as st

from fundapp.accounts.validators import (
    orcid_check_digit,
    orcid_is_valid,
    orcid_normalize,
    validate_orcid,
)
from tests.factories import UserFactory

# Published examples (ORCID's own documentation and well-known records).
VALID = ["0000-0002-1825-0097", "0000-0001-5109-3700", "0000-0002-1694-233X"]


@pytest.mark.parametrize("value", VALID)
def test_published_orcid_ids_are_valid(value):
    assert orcid_is_valid(value)
    validate_orcid(value)


@pytest.mark.parametrize(
    "value",
    [
        "0000-0002-1825-0098",  # wrong check digit
        "0000-0002-1694-2330",  # X expected
        "0000000218250097",  # no hyphens
        "0000-0002-1825-009",  # too short
        "0000-0002-1825-0097 ",  # trailing space
        "0000-0002-1694-233x",  # lower-case x
        "https://orcid.org/0000-0002-1825-0097",
    ],
)
def test_malformed_or_mistyped_ids_are_refused(value):
    assert not orcid_is_valid(value)
    with pytest.raises(ValidationError):
        validate_orcid(value)


def test_an_empty_orcid_is_allowed():
    validate_orcid("")


def test_pasted_ids_are_normalized():
    assert orcid_normalize(" https://orcid.org/0000-0002-1694-233x ") == "0000-0002-1694-233X"


@given(st.text(alphabet="0123456789", min_size=15, max_size=15), st.integers(0, 14))
def test_one_mistyped_digit_is_always_caught(digits, position):
    valid = digits + orcid_check_digit(digits)
    wrong = str((int(digits[position]) + 1) % 10)
    mistyped = digits[:position] + wrong + digits[position + 1 :] + valid[15]

    def dashed(raw: str) -> str:
        return "-".join(raw[i : i + 4] for i in range(0, 16, 4))

    assert orcid_is_valid(dashed(valid))
    assert not orcid_is_valid(dashed(mistyped))


@pytest.mark.django_db
def test_the_person_model_checks_the_orcid_and_the_database_its_format():
    person = UserFactory.create()
    person.orcid = "0000-0002-1825-0098"
    with pytest.raises(ValidationError) as refused:
        person.full_clean()
    assert "orcid" in refused.value.message_dict
    person.orcid = "0000-0002-1825-0097"
    person.full_clean()
    person.save(update_fields=["orcid"])
    with pytest.raises(IntegrityError), transaction.atomic():
        type(person).objects.filter(pk=person.pk).update(orcid="not-an-orcid")
