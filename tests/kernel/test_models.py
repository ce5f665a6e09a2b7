"""The fund and research areas moved to the kernel keep the audit object types their
histories were written under (``history_for`` finds events recorded before the move)."""

from __future__ import annotations

from fundapp.audit.services import object_type_of
from fundapp.kernel.models import Fund, ResearchArea
from ip_licensing.models import ReturnAllocationEntry


def test_moved_models_keep_their_tables_and_audit_object_types() -> None:
    assert Fund._meta.db_table == "projects_fund"
    assert ResearchArea._meta.db_table == "projects_researcharea"
    assert ReturnAllocationEntry._meta.db_table == "projects_returnallocationentry"
    assert object_type_of(Fund(pk=1)) == "projects.fund"
    assert object_type_of(ResearchArea(pk=1)) == "projects.researcharea"
    assert object_type_of(ReturnAllocationEntry(pk=1)) == "ip_licensing.returnallocationentry"
