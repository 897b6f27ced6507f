import os
import tempfile

import pytest
from streamlit import config as streamlit_config

from sslengine.store import Store


# The pages' UMAP process is started by the browser tests' real servers only: under AppTest every test's
# store would get one, each compiling umap-learn. The map tests call sslengine.layouts directly.
os.environ["SSL_EXPLORER_LAYOUTS"] = "off"
# AppTest reads no .streamlit/config.toml: the served app's address is set as that file sets it (localhost,
# where the one user is the instructor). The access tests set it otherwise.
streamlit_config.set_option("server.address", "127.0.0.1")
# Image sets come from an empty cache of the session's own: a test never reads (or fetches into) the user's.
os.environ["SSL_EXPLORER_DATA"] = tempfile.mkdtemp(prefix="ssl-explorer-data-")


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "runs.db"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test (screenshots)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
