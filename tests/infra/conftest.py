import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def server_var_dir():
    """A var/ for embedded servers, outside pytest's tmp_path.

    As root, PostgreSQL runs as another user who must traverse every folder above its data;
    each pytest session (any concurrent one too) resets pytest's own temp root to 0700,
    which would cut a running server off from its files.
    """
    path = Path(tempfile.mkdtemp(prefix="jkfund-infra-"))
    yield path / "var"
    shutil.rmtree(path, ignore_errors=True)
