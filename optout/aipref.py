"""IETF aipref ``Content-Usage`` expressions and Cloudflare ``Content-Signal`` values.

Both answer one question here: does the statement reserve generative-AI model training
(True), explicitly permit it (False), or say nothing about it (None)? Nothing here raises:
whatever a server sends, the answer is one of those three.

Sources: draft-ietf-aipref-vocab-08 (September 2026) and draft-ietf-aipref-attach-05 (August
2026) for ``Content-Usage``; contentsignals.org and draft-romm-aipref-contentsignals-00 for
``Content-Signal``.
"""

from __future__ import annotations

import re

# Labels that cover generative-AI training, grouped from most to least specific. The first group
# with a ``y`` or ``n`` decides; inside a group a ``n`` wins (reserve when in doubt).
#
# 1. The generative-AI training category itself, under the names it has had:
#    ``train-ai``     draft-ietf-aipref-vocab-04 to -08: "modify the learned parameters of a
#                     generative AI model" (in -00 to -03 it meant AI training in general);
#    ``train-genai``  drafts -00 to -03, "Generative AI Training", a subset of ``train-ai``;
#    ``genai``        the working group's pre-adoption text (``tdm`` > ``ai`` > ``genai``);
#    ``ai-train``     Cloudflare's name, proposed as an aipref category in
#                     draft-romm-aipref-contentsignals-00.
#    These sit in one group because draft -08 gives ``train-ai`` the meaning ``train-genai``
#    had: ``train-ai=n, train-genai=y`` disallows under -08 and allows under -03, so it
#    reserves here (the vocabulary's rule for combining conflicting statements).
# 2. ``ai``: "AI Training" of the pre-adoption text, a superset of ``genai``.
# 3. The broad category: ``all`` ("Automated Processing", drafts -00 to -03) and ``tdm`` ("Text
#    and Data Mining", pre-adoption). Draft -08 has no broad category, and its ``search`` and
#    ``ai-use`` do not cover training a general model, so they are ignored.
# ``bots`` is sometimes said to be an older name of Automated Processing; no draft text found
# confirms it, so it stays an unknown label (ignored, as the draft requires).
_TRAINING_GROUPS = (
    frozenset({"train-ai", "train-genai", "genai", "ai-train"}),
    frozenset({"ai"}),
    frozenset({"all", "tdm"}),
)

# One dictionary member: key, ``=``, bare item, then parameters (``;...``, ignored). Keys and the
# y/n token are compared lower-cased, and spaces around ``=`` are tolerated.
_MEMBER = re.compile(r"([a-z*][a-z0-9_.*-]*)[ \t]*=[ \t]*([^; \t]*)[ \t]*(?:;.*)?", re.DOTALL)
_SIGNAL = re.compile(r"([a-z0-9_.*-]+)[ \t]*=[ \t]*([a-z]+)")


def split_path(value: str) -> tuple[str, str]:
    """Split a robots.txt ``Content-Usage`` / ``Content-Signal`` value into (path, expression).

    The attach draft puts a path (starting with ``/``, ending at the first space or tab) before
    the expression; without one the line applies to ``/``. The path comes back unescaped.
    """
    value = value.strip(" \t")
    if not value.startswith("/"):
        return "/", value
    match = re.search(r"[ \t]+", value)
    if match is None:
        return value, ""
    return value[: match.start()], value[match.end() :]


def content_usage_reserves_training(expression: str) -> bool | None:
    """Whether an aipref expression (``train-ai=n, search=y``) reserves generative-AI training.

    Deliberate departures from the draft's strict processing, all towards reading a statement:
    a malformed member voids only itself (not the whole dictionary), keys and ``y``/``n`` are
    case-insensitive, and a key given twice reserves if any of its values is ``n`` (as the draft
    editor's own parser does) rather than keeping only the last. Values other than the bare
    tokens ``y``/``n`` (``"n"``, ``no``, a bare key) say nothing, as the draft says.
    """
    values: dict[str, set[str]] = {}
    for member in _members(expression):
        match = _MEMBER.fullmatch(member.strip(" \t").lower())
        if match and match.group(2) in ("y", "n"):
            values.setdefault(match.group(1), set()).add(match.group(2))
    for group in _TRAINING_GROUPS:
        said = set().union(*(values.get(label, set()) for label in group))
        if "n" in said:
            return True
        if "y" in said:
            return False
    return None


def content_signal_reserves_training(value: str) -> bool | None:
    """Whether a ``Content-Signal`` value (``search=yes, ai-train=no``) reserves AI training.

    ``ai-train=no`` reserves, ``ai-train=yes`` permits, anything else says nothing. Keys and
    values are case-insensitive; a ``no`` anywhere wins over a ``yes``.
    """
    said = set()
    for item in value.split(","):
        match = _SIGNAL.fullmatch(item.strip(" \t").lower())
        if match and match.group(1) == "ai-train" and match.group(2) in ("yes", "no"):
            said.add(match.group(2))
    if "no" in said:
        return True
    return False if "yes" in said else None


def _members(expression: str) -> list[str]:
    """Split at commas outside double-quoted strings (a quoted ``","`` must not start a member)."""
    members, start, quoted, escaped = [], 0, False, False
    for position, char in enumerate(expression):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            members.append(expression[start:position])
            start = position + 1
    members.append(expression[start:])
    return members
