"""The kernel's registry (``fundapp.kernel.registry``): one domain's answers to the other's
questions, registered in ``AppConfig.ready`` and asked for by name."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation

from fundapp.kernel import registry
from ip_licensing.selectors import final_gate_requirements_met_many as results_registered
from ip_licensing.services.allocation import allocation_table_start
from projects.directory import ProjectDirectory


def test_the_domains_fill_in_their_answers_when_django_starts() -> None:
    assert isinstance(registry.project_directory.get(), ProjectDirectory)
    assert registry.return_allocation_start.get() is allocation_table_start
    assert registry._final_gate_requirements == {
        "ip_licensing.results_registered": results_registered
    }


def test_a_question_nobody_answers_says_so() -> None:
    slot: registry.Slot[int] = registry.Slot("nobody_answers")

    with pytest.raises(ImproperlyConfigured, match="nobody_answers"):
        slot.get()


def test_every_final_gate_requirement_must_be_met_and_the_first_unmet_reason_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[Sequence[int]] = []

    def odd_ids_only(ids: Sequence[int]) -> dict[int, tuple[bool, str]]:
        asked.append(ids)
        return {pk: (True, "") if pk % 2 else (False, "even") for pk in ids}

    def below_three(ids: Sequence[int]) -> dict[int, tuple[bool, str]]:
        return {pk: (True, "") if pk < 3 else (False, "too big") for pk in ids}

    monkeypatch.setattr(registry, "_final_gate_requirements", {})
    monkeypatch.setattr(registry, "_final_gate_reasons", {})
    registry.final_gate_requirement_register("odd", odd_ids_only)
    registry.final_gate_requirement_register("small", below_three)

    answers = registry.final_gate_requirements_met_many([4, 1, 3, 2, 1])

    assert answers == {1: (True, ""), 2: (False, "even"), 3: (False, "too big"), 4: (False, "even")}
    assert asked == [[1, 2, 3, 4]]
    assert registry.final_gate_requirements_met_many([]) == {}
    assert asked == [[1, 2, 3, 4]]

    # By name: what a notification stores, explained when it is read.
    assert registry.final_gate_requirements_unmet_many([4, 1, 3, 2]) == {
        2: "odd",
        3: "small",
        4: "odd",
    }
    assert asked[-1] == [1, 2, 3, 4]
    assert registry.final_gate_requirements_unmet_many([]) == {}


def test_a_final_gate_requirement_is_explained_by_its_name_in_the_readers_language() -> None:
    with translation.override("en"):
        english = registry.final_gate_requirement_reason("ip_licensing.results_registered")
    with translation.override("ja"):
        japanese = registry.final_gate_requirement_reason("ip_licensing.results_registered")

    assert english.startswith("Register the project's results")
    assert japanese and japanese != english
    assert registry.final_gate_requirement_reason("no.longer.registered") == ""


def test_with_no_requirement_registered_every_final_gate_may_complete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "_final_gate_requirements", {})

    assert registry.final_gate_requirements_met_many([7, 8]) == {7: (True, ""), 8: (True, "")}
