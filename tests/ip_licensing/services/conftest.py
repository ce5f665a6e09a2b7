import importlib
import sys
import types

import pytest

from tests.factories.licences import World, make_world


@pytest.fixture
def world(db) -> World:
    return make_world()


@pytest.fixture(autouse=True)
def upfront_posts(monkeypatch):
    """Record each ``royalty_post_upfront`` call the licence services make on activation
    and mark the fee posted, in place of the royalties service's ledger posting (its own
    tests pin that), so these tests pin the hook alone. Stands in for the whole module where it is missing."""
    calls: list[int] = []

    def royalty_post_upfront(*, licence, actor=None):
        from ip_licensing.models import Licence

        calls.append(licence.pk)
        Licence.objects.filter(pk=licence.pk).update(upfront_posted=True)

    try:
        module = importlib.import_module("ip_licensing.services.royalties")
    except ModuleNotFoundError:
        module = types.ModuleType("ip_licensing.services.royalties")
        monkeypatch.setitem(sys.modules, "ip_licensing.services.royalties", module)
    monkeypatch.setattr(module, "royalty_post_upfront", royalty_post_upfront, raising=False)
    return calls
