"""One run of the bundled sample recipe for every manifest test (tests that change a run copy it)."""

import os
from pathlib import Path

import pytest
from loguru import logger

from apertus_compliance.manifests.provider import Provider, load_provider
from apertus_compliance.manifests.run import Run
from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.rebuild import rebuild
from apertus_compliance.pipeline.recipe import bundled_recipe, load_recipe
from apertus_compliance.pipeline.steps import QUIET_ENV

os.environ[QUIET_ENV] = "1"  # datatrove's per-task INFO logs would drown pytest's failure reports
logger.disable("datatrove")


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """The bundled sample recipe, run once."""
    run_dir = tmp_path_factory.mktemp("manifests-sample") / "run"
    rebuild(load_recipe(bundled_recipe("sample")), run_dir, workers=1, echo=lambda message: None)
    return run_dir


@pytest.fixture(scope="session")
def sample_run(sample_dir) -> Run:
    return Run.open(sample_dir)


@pytest.fixture(scope="session")
def provider() -> Provider:
    return load_provider(bundled_data() / "providers" / "sample.yaml")


@pytest.fixture(scope="session")
def inventory(provider, sample_dir):
    """The sample run and provider file as a one-stage inventory (what every document is built from)."""
    from apertus_compliance.manifests.inventory import inventory_from_provider

    return inventory_from_provider(provider, [sample_dir])


@pytest.fixture(scope="session")
def publisher(inventory):
    """The provider as the documents see it (an inventory's provider)."""
    return inventory.provider
