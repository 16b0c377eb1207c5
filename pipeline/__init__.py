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
        "BudgetSampler": "steps",
        "DeletionListEntry": "lock_schema",
        "DocumentValidator": "steps",
        "FALLBACK_TOKENIZER": "recipe",
        "HTML_TYPES": "web",
        "IncompleteStage": "rebuild",
        "InputFile": "lock_schema",
        "LOCK_NAME": "lock",
        "LoadedRecipe": "recipe",
        "LockError": "lock",
        "OptOutFilter": "steps",
        "PIIMasker": "pii",
        "PLACEHOLDERS": "pii",
        "Recipe": "recipe",
        "RecipeError": "recipe",
        "RunLock": "lock_schema",
        "SampleKey": "steps",
        "Shard": "lock_schema",
        "SlurmError": "slurm",
        "SourceEntry": "lock_schema",
        "SourceReader": "steps",
        "TokenCounter": "tokenizer",
        "WebContentError": "web",
        "WorkerDied": "local_executor",
        "bundled_recipe": "recipe",
        "check_run_files": "lock",
        "conservation_errors": "lock",
        "decode_text": "web",
        "find_pii": "pii",
        "http_body": "web",
        "load_recipe": "recipe",
        "mask_pii": "pii",
        "media_type": "web",
        "read_lock": "lock",
        "rebuild_mixture": "rebuild:rebuild",
        "resolve_reference": "lock",
        "undo_content_encoding": "web",
        "verify_run": "lock",
    },
)
