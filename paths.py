"""Where the bundled data lives, so an installed wheel finds it as well as a source tree."""

from importlib.resources import files
from pathlib import Path


def bundled_data() -> Path:
    """The package's ``data/`` folder: agent lists, sample sources and sample signals."""
    return Path(str(files("apertus_compliance") / "data"))
