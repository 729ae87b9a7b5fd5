import pytest

from keras_resvariants.weights import loading
from keras_resvariants.weights import registry
from tests.weights.weights_helpers import make_published


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    """Tiny weights published once per session with the publish tool."""
    return make_published(tmp_path_factory.mktemp("published"))


@pytest.fixture
def weights_env(published, monkeypatch, tmp_path):
    """Tags resolve through the test records and files only: the shipped
    records, the repository's saved_models/ and ~/.keras are not used."""
    monkeypatch.setenv(registry.RECORDS_ENV, published.records)
    monkeypatch.setenv(loading.WEIGHTS_DIR_ENV, published.weights_dir)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv(loading.BASE_URL_ENV, raising=False)
    monkeypatch.setattr(loading, "REPO_WEIGHTS_DIR",
                        str(tmp_path / "no_repo_dir"))
    yield published
    registry._CACHE.clear()

