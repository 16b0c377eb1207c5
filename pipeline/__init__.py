"""Rebuild a training mixture from a recipe, reproducibly, on datatrove.

``load_recipe`` validates a recipe, ``rebuild_mixture`` runs it into a run directory (opt-outs, PII
masking, recipe filters, an exact token budget) and writes ``rebuild.lock.json``; ``verify_run``
re-runs a lock and lists every difference. The steps (``SourceReader``, ``OptOutFilter``,
``PIIMasker``...) are ordinary datatrove steps for use in other pipelines. See the README.
"""

from apertus_compliance.lazy import lazy_exports

# Public name -> the submodule that defines it, imported on first use (datatrove loads only when a
# step or a rebuild is used). Other areas import only these names. The rebuild function is
# exported as ``rebuild_mixture``: ``apertus_compliance.pipeline.rebuild`` is always the module.
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FALLBACK_TOKENIZER": "recipe",
        "LOCK_NAME": "lock",
        "PLACEHOLDERS": "pii",
        "BudgetSampler": "steps",
        "DocumentValidator": "steps",
        "IncompleteStage": "rebuild",
        "LockError": "lock",
        "LoadedRecipe": "recipe",
        "OptOutFilter": "steps",
        "PIIMasker": "pii",
        "Recipe": "recipe",
        "RecipeError": "recipe",
        "SampleKey": "steps",
        "SlurmError": "slurm",
        "SourceReader": "steps",
        "TokenCounter": "steps",
        "WorkerDied": "local_executor",
        "bundled_recipe": "recipe",
        "check_run_files": "lock",
        "conservation_errors": "lock",
        "find_pii": "pii",
        "load_recipe": "recipe",
        "mask_pii": "pii",
        "read_lock": "lock",
        "rebuild_mixture": "rebuild:rebuild",
        "verify_run": "lock",
    },
)
