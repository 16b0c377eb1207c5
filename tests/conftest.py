"""Suite-wide settings. CI runs hypothesis derandomized (``HYPOTHESIS_PROFILE=ci``, set by
.ci/run) so a landing never depends on luck; local runs keep exploring new examples."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
