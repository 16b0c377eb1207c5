"""Apertus behind an OpenAI-compatible API with the filter mounted (issue: serving). Not built yet."""
