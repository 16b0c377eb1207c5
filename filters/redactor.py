"""Redact deletion-list entries (and optionally presidio's pattern and NER classes) from text,
whole or streamed.

Matching hashes every window of 1..k normalized tokens (k = the release's longest entry) and
looks the hashes up in the release's sorted arrays. Spans that overlap are merged, so nothing of
either is left. Replacement goes through presidio-anonymizer's ``replace`` operator.

Streaming releases text as soon as no future chunk can change it: it holds back only the
trailing tokens that are a prefix of some listed entry (the release stores prefix hashes for
this), a word that may still grow, a trailing run of phone digits, and for pattern recognizers
the last ``PATTERN_HOLDBACK`` characters. So the pieces add up to ``redact(full_text)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import regex

from apertus_compliance.filters.deletion_list import (
    CATEGORIES,
    DeletionList,
    sequence_hash,
    token_hashes,
    window_hashes,
)
from apertus_compliance.filters.normalize import (
    PHONE_SEPARATORS_V2,
    TokenStream,
    construct_start,
    digit_runs,
    phone_runs,
    stable_prefix,
    text_streams,
    text_tokens,
    tokens_with_spans,
)
from apertus_compliance.filters.settings import DEFAULT_PLACEHOLDER, PATTERN_CLASSES

PATTERN_HOLDBACK = 64
"""Characters a stream holds back when pattern recognizers are on: regexes cannot say whether a
partial match may still complete. 64 covers the patterns with spaces (IBAN, card, phone); the
trailing run without whitespace (an email, an address) is held back too, up to ``LONGEST_WORD_RUN``."""
LONGEST_WORD_RUN = 256
"""Longer than any email address (RFC 5321 allows 254); a longer run without spaces is released."""
LONGEST_PHONE_GROUPS = 8
NER_WINDOW = 2048
MAX_HOLD_BACK = 4096
"""The most a stream ever holds back (characters); more than every bounded hold-back together."""
LONG_TOKEN_TAIL = 64
"""Characters of an over-long word a stream keeps when it must cut inside it: longer than any
listed token, so the tail matches nothing on its own."""
"""Characters of an unfinished sentence a stream holds back for NER; past that it is cut at a space."""
_WORD = regex.compile(r"\w")
_BARRIER = "\x00"
"""Between the token streams of a text when they are hashed as one: never a token itself."""
_DIGIT = regex.compile(r"\d")
_LETTERS = regex.compile(r"[\p{L}\p{M}\p{Nd}--\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]+", flags=regex.V1)
"""Characters that only lengthen the word they follow, in every normalization version (not
``_``, a separator in v2, nor the scripts v2 cuts one token per character)."""


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    category: str


class Redactor:
    """``Redactor(DeletionList.load(DIR, public_key=KEY)).redact(text) -> str``.

    ``patterns``: presidio recognizers to redact always (any of ``PATTERN_CLASSES``).
    ``ner_model``: a spaCy model name or path for presidio's NER (PERSON, LOCATION); never
    downloaded. ``placeholders``: per category (``name``, ``email``, ..., ``person``).
    """

    def __init__(
        self,
        deletion_list: DeletionList | None = None,
        *,
        patterns: Iterable[str] = (),
        ner_model: str | None = None,
        placeholder: str = DEFAULT_PLACEHOLDER,
        placeholders: dict[str, str] | None = None,
    ) -> None:
        self.deletion_list = deletion_list
        self.patterns = tuple(patterns)
        unknown = sorted(set(self.patterns) - set(PATTERN_CLASSES))
        if unknown:
            raise ValueError(f"unknown pattern classes {unknown}: choose from {', '.join(PATTERN_CLASSES)}")
        self.ner_model = ner_model
        self.placeholder = placeholder
        self.placeholders = dict(placeholders or {})
        if ner_model is not None:
            _ = self._ner_analyzer  # load now: a missing model is a configuration error, not a request error

    # -- detection ---------------------------------------------------------------------------

    def find(self, text: str) -> list[Span]:
        """Spans to redact, merged where they overlap, sorted."""
        return _merged(self._candidates(text))

    def _candidates(self, text: str) -> list[Span]:
        found = self._list_spans(text) if self.deletion_list is not None else []
        for recognizer in self._pattern_recognizers:
            for result in recognizer.analyze(text, entities=recognizer.supported_entities, nlp_artifacts=None) or []:
                found.append(Span(result.start, result.end, _PRESIDIO_CATEGORY.get(result.entity_type, "other")))
        if self.ner_model is not None:
            for result in self._ner_analyzer.analyze(text, language="en", entities=["PERSON", "LOCATION"]):
                found.append(Span(result.start, result.end, result.entity_type.lower()))
        return found

    def _list_spans(self, text: str) -> list[Span]:
        """Spans of listed values, as the release's normalization version reads text."""
        if self.deletion_list.manifest.get("normalization_version", 1) == 1:
            return self._list_spans_v1(text)
        listed = self.deletion_list
        streams = text_streams(
            text, emails=listed.manifest["counts"].get("email", 0) > 0, reach=max(listed.max_tokens - 1, 1)
        )
        return _stream_spans(listed, streams)

    def _list_spans_v1(self, text: str) -> list[Span]:
        listed = self.deletion_list
        spans = tokens_with_spans(text)
        if not spans:
            return []
        found = []
        for width, hashes in enumerate(
            window_hashes(token_hashes([token for token, _, _ in spans], listed.key), listed.max_tokens), start=1
        ):
            categories = listed.categories_of(hashes)
            for first in np.flatnonzero(categories >= 0):
                found.append(Span(spans[first][1], spans[first + width - 1][2], CATEGORIES[categories[first]]))
        if listed.has_phones:
            runs = list(digit_runs(text, spans, LONGEST_PHONE_GROUPS))
            if runs:
                hashes = np.array([sequence_hash((digits,), listed.key) for digits, *_ in runs], dtype=np.uint64)
                for (_, _, _, start, end), category in zip(runs, listed.categories_of(hashes), strict=True):
                    if category >= 0:
                        found.append(Span(start, end, CATEGORIES[category]))
        return found

    @cached_property
    def _pattern_recognizers(self) -> list:
        if not self.patterns:
            return []
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
        )

        factories = {
            "email": _offline_email_recognizer,
            "phone": PhoneRecognizer,
            "iban": IbanRecognizer,
            "ip": IpRecognizer,
            "credit_card": CreditCardRecognizer,
        }
        return [factories[name]() for name in self.patterns]

    @cached_property
    def _ner_analyzer(self) -> object:
        import spacy.util
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        if not (spacy.util.is_package(self.ner_model) or Path(self.ner_model).exists()):
            # presidio would call spacy.cli.download here; models are installed on purpose, never fetched
            raise ValueError(
                f"NER model {self.ner_model!r} is not installed (pip-install a spaCy model package "
                "or give the path of a model folder)"
            )
        configuration = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": self.ner_model}]}
        try:
            engine = NlpEngineProvider(nlp_configuration=configuration).create_engine()
        except (OSError, ValueError) as error:  # spaCy: "Can't find model"; never downloaded here
            raise ValueError(f"NER model {self.ner_model!r} is not installed or not a spaCy model ({error})") from error
        registry = RecognizerRegistry(recognizers=[SpacyRecognizer(supported_language="en")])
        return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])

    # -- replacement -------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        return self.redact_with_counts(text)[0]

    def redact_with_counts(self, text: str) -> tuple[str, Counter[str]]:
        return self._replace(text, self.find(text))

    def _replace(self, text: str, spans: list[Span]) -> tuple[str, Counter[str]]:
        counts = Counter(span.category for span in spans)
        if not spans:
            return text, counts
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        results = [
            RecognizerResult(entity_type=span.category, start=span.start, end=span.end, score=1.0) for span in spans
        ]
        operators = {
            category: OperatorConfig("replace", {"new_value": self.placeholders.get(category, self.placeholder)})
            for category in counts
        }
        engine = _anonymizer(AnonymizerEngine)  # no merging across whitespace: a stream could not do the same
        return engine.anonymize(
            text=text, analyzer_results=results, operators=operators, merge_entities_with_spaces=False
        ).text, counts

    def stream(self) -> RedactionStream:
        return RedactionStream(self)

    # -- streaming ---------------------------------------------------------------------------

    def safe_cut(self, text: str) -> tuple[int, list[Span]]:
        """How much of ``text`` can be released now, and the spans inside that part.

        What is held back is bounded whatever the text: the trailing tokens that may still grow
        into a listed entry (at most ``max_tokens - 1``), the last word, the last
        ``LONGEST_PHONE_GROUPS - 1`` groups of a digit run, the pattern window and the NER
        sentence (at most ``NER_WINDOW`` characters); for a normalization v2 release the list's
        part is ``_list_hold_back``, over every token stream. Only an over-long word (or a pattern match growing with one)
        can hold back more; ``RedactionStream`` bounds that case."""
        listed = self.deletion_list
        if listed is not None and listed.manifest.get("normalization_version", 1) >= 2:
            cut = self._list_hold_back(text)  # every token stream: last word, entry prefixes, digit groups
        else:
            cut = self._hold_back_v1(text)
        if self.patterns:  # patterns see their left context: cut only where whitespace begins a run
            cut = min(cut, _run_start_before(text, len(text) - PATTERN_HOLDBACK))
        if self.ner_model is not None:
            cut = min(cut, _last_sentence_end(text))
        merged = self.find(text)
        moved = True
        while moved:  # a span that straddles the cut is not decided yet: release only before it
            moved = False
            for span in merged:
                if span.start < cut < span.end:
                    cut, moved = span.start, True
        return cut, [span for span in merged if span.end <= cut]

    def _hold_back_v1(self, text: str) -> int:
        """Without a list or with a normalization v1 release: the last word if it may still grow,
        the longest tail of tokens that is a prefix of a listed entry, a trailing digit run."""
        cut = len(text)
        spans = complete = self._tokens(text)
        if spans and spans[-1][2] == len(text):
            cut = spans[-1][1]  # the last word may still grow
            complete = spans[:-1]
        listed = self.deletion_list
        if listed is not None and complete:
            tail = complete[-(listed.max_tokens - 1) :] if listed.max_tokens > 1 else []
            if tail:
                windows = window_hashes(token_hashes([token for token, _, _ in tail], listed.key), len(tail))
                for width in range(len(tail), 0, -1):  # the longest suffix first: it starts earliest
                    if listed.is_prefix(windows[width - 1][-1:])[0]:
                        cut = min(cut, tail[len(tail) - width][1])
                        break
            if listed.has_phones:
                cut = min(cut, _trailing_digit_run(text, spans))
        return cut

    def _tokens(self, text: str) -> list[tuple[str, int, int]]:
        """Normalized tokens with their spans, as the loaded release's normalization cuts them."""
        listed = self.deletion_list
        return text_tokens(text, listed.manifest.get("normalization_version", 1) if listed is not None else 1)

    def _list_hold_back(self, text: str) -> int:
        """Where the part of ``text`` that appended text may still change begins, for a
        normalization v2 release (``len(text)`` for v1, whose hold-back ``safe_cut`` does itself):
        what ``stable_prefix`` holds (unfinished markup, joiners), and in every token stream of
        the rest (literal, markup, emails without ``at``/``dot``) the last word if it may grow,
        the longest tail that is a prefix of a listed entry, a trailing run of digit groups
        (at most ``LONGEST_PHONE_GROUPS - 1``). A stream releases only before
        ``min(safe_cut, this)``; bounded like ``safe_cut`` (``max_tokens`` tokens, 512 characters)."""
        listed = self.deletion_list
        if listed is None or listed.manifest.get("normalization_version", 1) == 1:
            return len(text)
        cut = stable_prefix(text)
        held = cut
        for stream in text_streams(text[:cut], emails=listed.manifest["counts"].get("email", 0) > 0):
            count = len(stream.tokens)
            if not count:
                continue
            if stream.ends[-1] == cut:  # the last word may still grow
                count -= 1
                held = min(held, stream.starts[-1])
            tail = stream.tokens[max(0, count - (listed.max_tokens - 1)) : count]
            if tail:
                windows = window_hashes(token_hashes(tail, listed.key), len(tail))
                for width in range(len(tail), 0, -1):  # the longest suffix first: it starts earliest
                    if listed.is_prefix(windows[width - 1][-1:])[0]:
                        held = min(held, stream.starts[count - width])
                        break
            if listed.has_phones and not stream.email_only:
                held = min(held, _trailing_phone_groups(stream, cut))
        return construct_start(text, held)


class RedactionStream:
    """``feed(chunk) -> str`` releases what is safe; ``close() -> str`` the rest.

    The pieces add up to ``redact(whole_text)``. What a stream holds back is bounded by
    ``MAX_HOLD_BACK`` characters, so its cost is linear in its length whatever the text: past
    that (only an over-long word can get there, or a pattern match that grows with one), the
    stream releases all but the last ``LONG_TOKEN_TAIL`` characters. A cut inside an over-long
    word leaves a tail that is still longer than any listed token, so it matches nothing on its
    own, as the whole word would not; a pattern match the cut goes through is redacted up to it.
    """

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.pending = ""
        self.counts: Counter[str] = Counter()

    def feed(self, chunk: str) -> str:
        only_grew = bool(self.pending) and _LETTERS.fullmatch(chunk) and _LETTERS.match(self.pending[-1])
        self.pending += chunk
        if not self.pending or (only_grew and len(self.pending) <= MAX_HOLD_BACK):
            return ""  # the last word grew and nothing else: what can be released is unchanged
        cut, spans = self.redactor.safe_cut(self.pending)
        if len(self.pending) - cut > MAX_HOLD_BACK:
            cut, spans = self._forced_cut()
        if cut == 0:
            return ""
        piece, counts = self.redactor._replace(self.pending[:cut], spans)
        self.pending = self.pending[cut:]
        self.counts.update(counts)
        return piece

    def _forced_cut(self) -> tuple[int, list[Span]]:
        """All but the last ``LONG_TOKEN_TAIL`` characters, never inside a token shorter than
        ``LONG_TOKEN_TAIL``; a span across the cut is redacted up to it (fail closed)."""
        text = self.pending
        cut = len(text) - LONG_TOKEN_TAIL
        for _, start, end in self.redactor._tokens(text):
            if start < cut < end:  # keep a short token whole, and a long one's tail long
                cut = start if end - start < LONG_TOKEN_TAIL else min(cut, end - LONG_TOKEN_TAIL)
                break
        spans = []
        for span in self.redactor.find(text):
            if span.start < cut:
                spans.append(Span(span.start, min(span.end, cut), span.category))
        return cut, spans

    def close(self) -> str:
        released, counts = self.redactor.redact_with_counts(self.pending)
        self.pending = ""
        self.counts.update(counts)
        return released


_PRESIDIO_CATEGORY = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip",
    "CREDIT_CARD": "credit_card",
}
_ENGINES: dict[type, object] = {}


def warm_up() -> None:
    """Import presidio-anonymizer and build its engine now: it takes seconds, which a server must
    spend at start-up, not on its event loop during the first redaction."""
    from presidio_anonymizer import AnonymizerEngine

    _anonymizer(AnonymizerEngine)


def _anonymizer(engine_class: type) -> object:
    if engine_class not in _ENGINES:
        _ENGINES[engine_class] = engine_class()
    return _ENGINES[engine_class]


def _stream_spans(listed: DeletionList, streams: list[TokenStream]) -> list[Span]:
    """Listed values in the token streams of one text (normalization v2): every window of up to
    ``max_tokens`` tokens, and for phones every run of digit groups. The streams are hashed as
    one sequence with a barrier token between them (a window across it matches nothing), so the
    numpy work is done once whatever the number of streams."""
    tokens: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    email_only: list[bool] = []
    for stream in streams:
        if stream.tokens:
            if tokens:
                tokens.append(_BARRIER)
                starts.append(-1)
                ends.append(-1)
                email_only.append(True)
            tokens += stream.tokens
            starts += stream.starts
            ends += stream.ends
            email_only += [stream.email_only] * len(stream.tokens)
    found = []
    if not tokens:
        return found
    email = CATEGORIES.index("email")
    for width, hashes in enumerate(window_hashes(token_hashes(tokens, listed.key), listed.max_tokens), start=1):
        categories = listed.categories_of(hashes)
        for first in np.flatnonzero(categories >= 0):
            if not email_only[first] or categories[first] == email:
                found.append(Span(starts[first], ends[first + width - 1], CATEGORIES[categories[first]]))
    if listed.has_phones:
        runs = [
            run
            for stream in streams
            if not stream.email_only and _DIGIT.search(stream.clean)
            for run in phone_runs(stream, LONGEST_PHONE_GROUPS)
        ]
        if runs:
            hashes = window_hashes(token_hashes([digits for digits, _, _ in runs], listed.key), 1)[0]
            for (_, start, end), category in zip(runs, listed.categories_of(hashes), strict=True):
                if category >= 0:
                    found.append(Span(start, end, CATEGORIES[category]))
    return found


def _trailing_phone_groups(stream: TokenStream, end: int) -> int:
    """Start of the last ``LONGEST_PHONE_GROUPS - 1`` digit groups that end ``stream`` (joined by
    phone separators, only separators after them up to ``end``): a phone number may continue them."""
    index = len(stream.tokens) - 1
    tokens, clean = stream.tokens, stream.clean
    if index < 0 or not tokens[index].isdigit() or not set(clean[stream.clean_ends[index] :]) <= PHONE_SEPARATORS_V2:
        return end
    first = max(0, index - LONGEST_PHONE_GROUPS + 2)
    while (
        index > first
        and tokens[index - 1].isdigit()
        and set(clean[stream.clean_ends[index - 1] : stream.clean_starts[index]]) <= PHONE_SEPARATORS_V2
    ):
        index -= 1
    return stream.starts[index]


def _merged(spans: list[Span]) -> list[Span]:
    """Overlapping spans become one covering span, labelled by its longest member."""
    merged: list[Span] = []
    best: Span | None = None
    for span in sorted(spans, key=lambda span: (span.start, -span.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            if span.end - span.start > best.end - best.start:
                best = span
            merged[-1] = Span(last.start, max(last.end, span.end), best.category)
            continue
        merged.append(span)
        best = span
    return merged


def _trailing_digit_run(text: str, spans: list[tuple[str, int, int]]) -> int:
    """Start of the last ``LONGEST_PHONE_GROUPS - 1`` digit tokens at the end of ``text``: a phone
    number may continue them, and no listed number is longer (a longer run is released).
    Groups are joined by normalization v2's separators (tabs, thin spaces, dashes, ...), a
    superset of v1's: holding back more is safe for v1 releases too."""
    index = len(spans) - 1
    if index < 0 or not spans[index][0].isdigit() or not set(text[spans[index][2] :]) <= PHONE_SEPARATORS_V2:
        return len(text)
    first = max(0, index - LONGEST_PHONE_GROUPS + 2)
    while (
        index > first
        and spans[index - 1][0].isdigit()
        and set(text[spans[index - 1][2] : spans[index][1]]) <= PHONE_SEPARATORS_V2
    ):
        index -= 1
    return spans[index][1]


def _run_start_before(text: str, position: int) -> int:
    """``position``, moved back to the start of the whitespace-free run it falls in (at most
    ``LONGEST_WORD_RUN`` characters back: a longer run cannot be one email or address), and
    never inside a word: its second half would be read as a word of its own."""
    position = max(position, 0)
    floor = max(0, position - LONGEST_WORD_RUN)
    while position > floor and not text[position - 1].isspace():
        position -= 1
    while 0 < position < len(text) and _WORD.match(text, position - 1) and _WORD.match(text, position):
        position -= 1
    return position


def _last_sentence_end(text: str) -> int:
    """After the last sentence end, so NER sees whole sentences; at most ``NER_WINDOW`` characters
    are held back for a sentence that does not end (then the cut is at the last whitespace)."""
    ends = [text.rfind(mark) for mark in (". ", "! ", "? ", "\n")]
    if max(ends) >= 0 and len(text) - max(ends) <= NER_WINDOW:
        return max(ends) + 1
    if len(text) <= NER_WINDOW:
        return 0
    floor = len(text) - NER_WINDOW
    space = max(text.rfind(" ", 0, floor + 1), text.rfind("\t", 0, floor + 1))
    return space + 1 if space >= 0 else floor


def _offline_email_recognizer() -> object:
    """presidio's EmailRecognizer with its domain check on tldextract's bundled suffix list
    (presidio's own check would try to download the list)."""
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    from apertus_compliance.optout import domain_extractor

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(domain_extractor()(pattern_text.rpartition("@")[2]).suffix)

    return OfflineEmailRecognizer()
