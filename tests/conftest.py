import pytest

from sslengine.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "runs.db"))
