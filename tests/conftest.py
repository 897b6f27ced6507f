import pytest

from sslengine.store import Store


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "runs.db"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test (screenshots)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
