import pytest


@pytest.fixture(autouse=True)
def _gates_settings(settings, tmp_path):
    """Evidence and imports go to a per-test directory outside the web root."""
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.AXES_ENABLED = False
    return settings.PRIVATE_MEDIA_ROOT


@pytest.fixture
def no_automatic_decision(monkeypatch):
    """Keep gate_evaluate to its own rows: the Engine's decision is tested on its side."""
    calls: list = []

    def fake_decide(items):
        calls.extend(item.evaluation for item in items)
        return {}

    monkeypatch.setattr("projects.services.gates.gates_decide_automatically", fake_decide)
    return calls
