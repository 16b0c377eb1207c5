"""Serving: Apertus through the bundled engine behind an OpenAI-compatible API, or any
OpenAI-compatible upstream behind the proxy, with the deletion-list filter always mounted.

``engine.py`` (the model and its step-level batching), ``api.py`` (the HTTP endpoints),
``proxy.py`` (forwarding to an upstream), ``output_filter.py`` and ``metrics.py`` (shared by both),
``random_model.py`` (tiny random checkpoints for tests and benchmarks), ``cli.py``.
"""

from apertus_compliance.lazy import lazy_exports

# Public name -> the submodule that defines it, imported on first use (torch and transformers load
# only with the engine).
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Engine": "engine",
        "EngineError": "engine",
        "EngineOverloaded": "engine",
        "OutputFilter": "output_filter",
        "ProxyError": "proxy",
        "RequestError": "api",
        "build_app": "api",
        "build_proxy": "proxy",
        "write_random_checkpoint": "random_model",
    },
)
