"""EU AI Act documents computed from rebuild runs: the Public Summary of Training Content, the
Model Documentation Form's data section, copyright-policy facts, Croissant with RAI fields and a
dataset card. ``Run.open`` refuses a run whose shards do not match its lock; ``load_inventory``
reads what a run cannot know (the provider, the models, every stage and declared dataset). See the README (``apertus-compliance manifest``).
"""

from apertus_compliance.lazy import lazy_exports

# Public name -> the submodule that defines it, imported on first use. Other areas import only
# these names (``rebuild`` ends by writing the documents with ``write_documents``).
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DOCUMENTS": "documents",
        "Inventory": "inventory",
        "InventoryError": "inventory",
        "bundled_inventory": "inventory",
        "load_inventory": "inventory",
        "Provider": "provider",
        "ProviderError": "provider",
        "Run": "run",
        "RunError": "run",
        "load_provider": "provider",
        "sample_provider": "documents",
        "write_documents": "documents",
    },
)
