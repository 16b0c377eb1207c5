"""Every sentence of the documents lives in ``manifests/templates/`` (Jinja2): builders compute
fields, templates say them. ``render(name, **context)`` renders a Markdown or text template;
``macros(name)`` gives a template's macros to documents that are not text files, such as
Croissant's JSON. The shared paragraphs (opt-outs, PII, tokenizer...) are the macros of
``_sentences.j2``, so that every document states a fact in the same words.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

__all__ = ["macros", "render"]

TEMPLATES = Path(__file__).parent / "templates"


ANGLE_BRACKETED = re.compile(r"(?<![`\w])([\w./-]*<[\w-]+>[\w./<>-]*)")
"""A placeholder or path with ``<...>`` parts (``<email-pii>``, ``removed/<reason>/``): Markdown
would read it as an HTML tag and hide it, so Markdown documents put it in code spans."""


def _para(text: object) -> str:
    """One Markdown paragraph: whitespace collapsed, ``<placeholders>`` in code spans."""
    return ANGLE_BRACKETED.sub(r"`\1`", _squash(text))


def _cell(value: object) -> str:
    """A Markdown table cell: a paragraph with pipes escaped."""
    return _para(value).replace("|", "\\|")


@cache
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=False,  # Markdown and plain text; the HTML summary has its own escaping environment
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["number"] = lambda value: f"{value:,}"
    environment.filters["percent"] = lambda value: f"{value:.1f}%"
    environment.filters["cell"] = _cell
    environment.filters["short"] = lambda digest: str(digest)[:12]
    environment.filters["squash"] = _squash
    environment.filters["para"] = _para
    from apertus_compliance.manifests.facts import PII_CATEGORIES, PROTOCOLS, REMOVAL_KINDS
    from apertus_compliance.pipeline import PLACEHOLDERS

    environment.globals.update(
        PII_CATEGORIES=PII_CATEGORIES, PLACEHOLDERS=PLACEHOLDERS, PROTOCOLS=PROTOCOLS, REMOVAL_KINDS=REMOVAL_KINDS
    )
    return environment


def _squash(text: object) -> str:
    """One paragraph: a macro's line breaks and indentation collapsed to single spaces."""
    return " ".join(str(text).split())


class _Macros:
    """A template's macros as functions that return one paragraph each."""

    def __init__(self, module: object) -> None:
        self._module = module

    def __getattr__(self, name: str):
        macro = getattr(self._module, name)
        return lambda *args, **kwargs: _squash(macro(*args, **kwargs))


def render(name: str, **context: object) -> str:
    """Render the template ``name`` (``card.md.j2``) with ``context``."""
    return _environment().get_template(name).render(**context)


@cache
def macros(name: str = "_sentences.j2") -> _Macros:
    """The macros of a template, callable from Python: ``macros().optout(run)`` -> one paragraph."""
    return _Macros(_environment().get_template(name).module)
