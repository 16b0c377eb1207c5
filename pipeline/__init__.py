"""Rebuild a training mixture from a recipe, reproducibly, on datatrove.

``load_recipe`` validates a recipe, ``rebuild`` runs it into a run directory (opt-outs, PII
masking, recipe filters, an exact token budget) and writes ``rebuild.lock.json``; ``verify_run``
re-runs a lock and lists every difference. The steps (``SourceReader``, ``OptOutFilter``,
``PIIMasker``...) are ordinary datatrove steps for use in other pipelines. See the README.
"""

from apertus_compliance.pipeline.lock import conservation_errors, read_lock, verify_run
from apertus_compliance.pipeline.pii import PIIMasker, find_pii, mask_pii
from apertus_compliance.pipeline.rebuild import rebuild
from apertus_compliance.pipeline.recipe import Recipe, RecipeError, bundled_recipe, load_recipe
from apertus_compliance.pipeline.steps import (
    BudgetSampler,
    DocumentValidator,
    OptOutFilter,
    SampleKey,
    SourceReader,
    TokenCounter,
)

__all__ = [
    "BudgetSampler",
    "DocumentValidator",
    "OptOutFilter",
    "PIIMasker",
    "Recipe",
    "RecipeError",
    "SampleKey",
    "SourceReader",
    "TokenCounter",
    "bundled_recipe",
    "conservation_errors",
    "find_pii",
    "load_recipe",
    "mask_pii",
    "read_lock",
    "rebuild",
    "verify_run",
]
