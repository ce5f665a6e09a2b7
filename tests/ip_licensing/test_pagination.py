"""The ip_licensing list pages share ``templates/includes/pagination.html``: it renders what
each page's own block rendered before (the same links, text and query parameters)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.paginator import Paginator
from django.template import Context, Template
from django.template.loader import render_to_string
from django.utils import translation

# The block the asset list carried before the include (the others were the same without
# ``query``).
FORMER_BLOCK = """{% load i18n %}
{% if page.has_other_pages %}
  <nav class="pagination" aria-label="{% translate 'Pages' %}">
    {% if page.has_previous %}
      <a href="?{% if query %}{{ query }}&amp;{% endif %}page={{ page.previous_page_number }}">{% translate "Previous" %}</a>
    {% endif %}
    <span>{% blocktranslate with number=page.number count=page.paginator.num_pages %}Page {{ number }} of {{ count }}{% endblocktranslate %}</span>
    {% if page.has_next %}
      <a href="?{% if query %}{{ query }}&amp;{% endif %}page={{ page.next_page_number }}">{% translate "Next" %}</a>
    {% endif %}
  </nav>
{% endif %}"""


def squeezed(html: str) -> str:
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", html)).strip()


@pytest.mark.parametrize("number", [1, 2, 3])
@pytest.mark.parametrize("query", ["", "q=chip&kind=patent"])
@pytest.mark.parametrize("language", ["en", "ja", "ko"])
def test_the_include_renders_what_the_pages_rendered(number, query, language):
    page = Paginator(list(range(25)), 10).page(number)
    with translation.override(language):
        before = Template(FORMER_BLOCK).render(Context({"page": page, "query": query}))
        after = render_to_string("includes/pagination.html", {"page": page, "query": query})
    assert squeezed(after) == squeezed(before)
    assert "pagination" in after


def test_a_single_page_shows_no_pagination():
    page = Paginator([1, 2], 10).page(1)
    assert render_to_string("includes/pagination.html", {"page": page}).strip() == ""


@pytest.mark.parametrize(
    "template",
    [
        "ip_licensing/asset_list.html",
        "ip_licensing/my_licences.html",
        "ip_licensing/obligations/_table.html",
    ],
)
def test_the_ip_licensing_lists_use_the_shared_include(template):
    source = (Path(__file__).resolve().parents[2] / "templates" / template).read_text()
    assert '{% include "includes/pagination.html"' in source
    assert "has_other_pages" not in source
