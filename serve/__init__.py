"""Serving: Apertus through the bundled engine behind an OpenAI-compatible API, or any
OpenAI-compatible upstream behind the proxy, with the deletion-list filter always mounted.

``engine.py`` (the model and its step-level batching), ``api.py`` (the HTTP endpoints),
``proxy.py`` (forwarding to an upstream), ``output_filter.py`` and ``metrics.py`` (shared by both),
``random_model.py`` (tiny random checkpoints for tests and benchmarks), ``cli.py``.
"""
