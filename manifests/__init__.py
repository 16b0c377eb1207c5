"""EU AI Act documents computed from rebuild runs: the Public Summary of Training Content, the
Model Documentation Form's data section, copyright-policy facts, Croissant with RAI fields and a
dataset card. ``Run.open`` refuses a run whose shards do not match its lock; ``load_provider``
reads what a run cannot know. See the README (``apertus-compliance manifest``).
"""

from apertus_compliance.manifests.provider import Provider, ProviderError, load_provider
from apertus_compliance.manifests.run import Run, RunError

__all__ = ["Provider", "ProviderError", "Run", "RunError", "load_provider"]
