"""Japanese and Korean ship complete and compiled (§15)."""

import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

LOCALES = ("ja", "ko")


@pytest.mark.parametrize("lang", LOCALES)
def test_catalogue_is_complete_and_valid(lang):
    po = Path(settings.BASE_DIR) / "locale" / lang / "LC_MESSAGES" / "django.po"
    result = subprocess.run(
        ["msgfmt", "-c", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


@pytest.mark.parametrize("lang", LOCALES)
def test_compiled_catalogue_is_in_the_repository(lang):
    mo = Path(settings.BASE_DIR) / "locale" / lang / "LC_MESSAGES" / "django.mo"
    assert mo.exists() and mo.stat().st_size > 1000


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("ja", "提案"), ("ko", "제안서")],
)
def test_glossary_terms_are_used(lang, expected):
    with translation.override(lang):
        assert translation.gettext("proposal") == expected
