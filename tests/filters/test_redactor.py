"""The Redactor: what a deletion list matches (normalization variants) and what it must leave
alone (decoys), placeholders and counts, presidio pattern classes (offline), the NER model
check, and streaming, which must add up to whole-text redaction and never release a listed
value, or the start of one, early.
"""

import socket
import time
import unicodedata
from collections import Counter
from datetime import UTC, datetime

import pytest
import regex
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from apertus_compliance.filters import (
    DEFAULT_PLACEHOLDER,
    PATTERN_CLASSES,
    DeletionList,
    RedactionStream,
    Redactor,
    build_release,
    generate_keypair,
)
from apertus_compliance.filters.redactor import LONGEST_WORD_RUN

REQUESTS = (
    "value,category,region\n"
    "Hans Müller,name,\n"
    "Hans Peter Keller,name,\n"
    "anna.muster@beispiel.de,email,\n"
    "044 668 18 00,phone,CH\n"
    "Bahnhofstrasse 1 8001 Zürich,address,\n"
)

# surface spellings of the listed values that the list must match
NAME_VARIANTS = [
    "Hans Müller",
    "hans müller",
    "HANS MÜLLER",
    "Hans Muller",
    "Hans Mueller",
    "HANS MUELLER",
    "Hans Mu\u0308ller",  # NFD: u + combining diaeresis
    "HANS MU\u0308LLER",
    "Hans  Müller",
    "Hans\tMüller",
    "Hans\nMüller",
    "Hans-Müller",
    "Hans, Müller",
    "Hans\u00a0Müller",
    "\uff28\uff41\uff4e\uff53 \uff2d\u00fc\uff4c\uff4c\uff45\uff52",  # fullwidth "Ｈａｎｓ Ｍüｌｌｅｒ"
    "\uff28\uff21\uff2e\uff33\u3000\uff2d\u00dc\uff2c\uff2c\uff25\uff32",  # fullwidth, ideographic space
    "Hans Peter Keller",
    "hans-peter keller",
    "HANS PETER KELLER",
]
EMAIL_VARIANTS = ["anna.muster@beispiel.de", "Anna.Muster@Beispiel.DE", "ANNA.MUSTER@BEISPIEL.DE"]
PHONE_VARIANTS = [
    "+41 44 668 18 00",
    "+41446681800",
    "044 668 18 00",
    "0446681800",
    "044-668-18-00",
    "044.668.18.00",
    "(044) 668 18 00",
]
ADDRESS_VARIANTS = ["Bahnhofstrasse 1, 8001 Zürich", "bahnhofstrasse 1 8001 zurich", "Bahnhofstrasse 1 8001 Zuerich"]
LISTED_VARIANTS = NAME_VARIANTS + EMAIL_VARIANTS + PHONE_VARIANTS + ADDRESS_VARIANTS

DECOYS = [
    "Hans Meier",  # the same first name, another surname
    "Müller",  # a listed surname alone
    "Hans",
    "Hansmüller",  # one token: not the two-token name
    "HansMüller",
    "Hans Peter",  # a proper prefix of a listed name
    "Peter Keller",  # a proper suffix of a listed name
    "Hans Peter Meier",
    "other@beispiel.de",  # an email on the same domain
    "anna.muster@beispiel.ch",
    "muster@beispiel.de",
    "044 668 18 01",  # a phone number one digit off
    "+41 44 668 18 01",
    "0446681801",
    "Bahnhofstrasse 2 8001 Zürich",
]

# normalized token sequences (NFKC, casefold, diacritics stripped or transliterated) of the list
LISTED_TOKENS = [
    ("hans", "müller"),
    ("hans", "muller"),
    ("hans", "mueller"),
    ("hans", "peter", "keller"),
    ("anna", "muster", "beispiel", "de"),
    ("bahnhofstrasse", "1", "8001", "zürich"),
    ("bahnhofstrasse", "1", "8001", "zurich"),
    ("bahnhofstrasse", "1", "8001", "zuerich"),
]
LISTED_PHONE_DIGITS = {"0446681800", "41446681800"}
PHONE_SEPARATORS = set(" -./()+\u00a0")
WORD = regex.compile(r"\w+")


# --------------------------------------------------------------------------------------------
# fixtures and helpers (shared within this module only)


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    private, public = generate_keypair(folder / "keys")
    (folder / "requests.csv").write_text(REQUESTS, encoding="utf-8")
    build_release(
        folder / "requests.csv", private, folder / "release", "test-1", created=datetime(2025, 1, 1, tzinfo=UTC)
    )
    return DeletionList.load(folder / "release", public)


@pytest.fixture(scope="module")
def redactor(listed):
    return Redactor(listed)


@pytest.fixture(scope="module")
def email_redactor(listed):
    return Redactor(listed, patterns=["email"])


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def tokens(text):
    """The oracle's tokens: ``\\w+`` runs (marks included), NFKC + casefold, with spans."""
    return [(unicodedata.normalize("NFKC", m.group()).casefold(), m.start(), m.end()) for m in WORD.finditer(text)]


def stream_pieces(redactor, chunks):
    """Feed ``chunks``; the emitted pieces (close() last) and, per piece, the offset in the
    input text up to which it accounts (the stream's release boundaries)."""
    stream = redactor.stream()
    assert isinstance(stream, RedactionStream)
    pieces, boundaries, fed = [], [], 0
    for chunk in chunks:
        piece = stream.feed(chunk)
        assert isinstance(piece, str)
        fed += len(chunk)
        pieces.append(piece)
        boundaries.append(fed - len(stream.pending))
    pieces.append(stream.close())
    boundaries.append(fed)
    return pieces, boundaries, stream


def chunks_at(text, cuts):
    cuts = sorted({0, len(text), *cuts})
    return [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]


def contains_listed_tokens(piece):
    normalized = [token for token, _, _ in tokens(piece)]
    for sequence in LISTED_TOKENS:
        for start in range(len(normalized) - len(sequence) + 1):
            if tuple(normalized[start : start + len(sequence)]) == sequence:
                return sequence
    return None


def early_prefix(text, boundary):
    """A listed value whose first tokens lie before ``boundary`` and the rest after it, or None."""
    spans = tokens(text)
    released = [token for token, _, end in spans if end <= boundary]
    # a token the boundary cuts (``日|本語``) stands between the two sides: it belongs to the later ones
    later = [token for token, _, end in spans if end > boundary]
    for sequence in LISTED_TOKENS:
        for k in range(1, len(sequence)):
            if tuple(released[-k:]) == sequence[:k] and tuple(later[: len(sequence) - k]) == sequence[k:]:
                return sequence, k
    # phone numbers: a run of digit tokens joined by phone separators across the boundary
    before = [span for span in spans if span[2] <= boundary]
    after = [span for span in spans if span[1] >= boundary]
    run_before = []
    for index in range(len(before) - 1, -1, -1):
        token, _, end = before[index]
        following = before[index + 1][1] if index + 1 < len(before) else (after[0][1] if after else end)
        if not token.isdigit() or not set(text[end:following]) <= PHONE_SEPARATORS:
            break
        run_before.insert(0, token)
    run_after = []
    for index, (token, start, _) in enumerate(after):
        if not token.isdigit() or (index and not set(text[after[index - 1][2] : start]) <= PHONE_SEPARATORS):
            break
        run_after.append(token)
    for i in range(len(run_before)):
        for j in range(1, len(run_after) + 1):
            if "".join(run_before[i:] + run_after[:j]) in LISTED_PHONE_DIGITS:
                return "".join(run_before[i:] + run_after[:j]), len(run_before) - i
    return None


# --------------------------------------------------------------------------------------------
# matching: normalization variants and decoys


@pytest.mark.parametrize("variant", NAME_VARIANTS, ids=ascii)
def test_name_variants_are_redacted(redactor, variant):
    assert redactor.redact(f"Gestern schrieb {variant} einen Brief.") == "Gestern schrieb [REDACTED] einen Brief."


@pytest.mark.parametrize("variant", EMAIL_VARIANTS)
def test_email_variants_are_redacted(redactor, variant):
    assert redactor.redact(f"Mail an {variant} bitte.") == "Mail an [REDACTED] bitte."


@pytest.mark.parametrize("variant", PHONE_VARIANTS)
def test_phone_variants_are_redacted(redactor, variant):
    redacted = redactor.redact(f"Tel. {variant} (Büro)")
    assert redacted.startswith("Tel. ") and redacted.endswith(" (Büro)")
    assert "[REDACTED]" in redacted
    assert not regex.search(r"\d", redacted), redacted  # no digit of the number is left


@pytest.mark.parametrize("variant", ADDRESS_VARIANTS)
def test_address_variants_are_redacted(redactor, variant):
    assert redactor.redact(f"Wohnt an der {variant}.") == "Wohnt an der [REDACTED]."


@pytest.mark.parametrize("decoy", DECOYS)
def test_decoys_are_left_alone(redactor, decoy):
    text = f"Erwähnt: {decoy}, sonst nichts."
    assert redactor.redact(text) == text
    assert redactor.find(text) == []


def test_a_listed_value_between_decoys(redactor):
    text = "Hans Meier, Hans Müller und Müller; other@beispiel.de; 044 668 18 01 / 044 668 18 00."
    assert redactor.redact(text) == "Hans Meier, [REDACTED] und Müller; other@beispiel.de; 044 668 18 01 / [REDACTED]."


def test_a_listed_value_with_a_digit_group_before_it(redactor):
    # the number is found inside a longer run of digit groups
    assert redactor.redact("Zimmer 18 044 668 18 00") == "Zimmer 18 [REDACTED]"


def test_without_a_list_or_patterns_nothing_changes():
    text = "Hans Müller, anna.muster@beispiel.de, 044 668 18 00"
    assert Redactor().redact(text) == text


# --------------------------------------------------------------------------------------------
# placeholders and counts


def test_default_placeholder(redactor):
    assert DEFAULT_PLACEHOLDER == "[REDACTED]"
    assert redactor.redact("Hans Müller") == "[REDACTED]"


def test_per_category_placeholders(listed):
    redactor = Redactor(listed, placeholders={"email": "<email>", "phone": "<phone>"})
    text = "Hans Müller: anna.muster@beispiel.de, 044 668 18 00."
    assert redactor.redact(text) == "[REDACTED]: <email>, <phone>."


def test_custom_default_placeholder(listed):
    redactor = Redactor(listed, placeholder="***", placeholders={"email": "<email>"})
    assert redactor.redact("Hans Müller: anna.muster@beispiel.de") == "***: <email>"


def test_redaction_is_deterministic(listed, redactor):
    text = "Hans Müller, anna.muster@beispiel.de, 044 668 18 00, Hans Meier " * 20
    first = redactor.redact(text)
    assert redactor.redact(text) == first
    assert Redactor(listed).redact(text) == first


def test_redact_with_counts(redactor):
    text = (
        "Hans Müller schrieb an anna.muster@beispiel.de; HANS MUELLER rief 044 668 18 00 an, "
        "Hans Meier nicht. Adresse: Bahnhofstrasse 1, 8001 Zürich."
    )
    redacted, counts = redactor.redact_with_counts(text)
    assert redacted == (
        "[REDACTED] schrieb an [REDACTED]; [REDACTED] rief [REDACTED] an, Hans Meier nicht. Adresse: [REDACTED]."
    )
    assert counts == Counter({"name": 2, "email": 1, "phone": 1, "address": 1})
    assert redactor.redact_with_counts("nichts") == ("nichts", Counter())


def test_stream_counts_add_up(redactor):
    text = "Hans Müller, anna.muster@beispiel.de und 044 668 18 00."
    _, _, stream = stream_pieces(redactor, list(text))
    assert stream.counts == redactor.redact_with_counts(text)[1]


# --------------------------------------------------------------------------------------------
# presidio pattern classes (offline) and the NER model check


PATTERN_EXAMPLES = {
    "email": ("Schreib an jane.doe@example.com morgen.", "jane.doe@example.com"),
    "phone": ("Ruf +1 212-555-0147 an.", "555"),
    "iban": ("Konto CH93 0076 2011 6238 5295 7 bitte.", "CH93"),
    "ip": ("Server 192.168.10.42 und 2001:db8::7334 laufen.", "192.168"),
    "credit_card": ("Karte 4111 1111 1111 1111 gültig.", "4111"),
}


@pytest.mark.parametrize("pattern", PATTERN_CLASSES)
def test_pattern_classes_are_redacted_offline(pattern, no_network):
    text, secret = PATTERN_EXAMPLES[pattern]
    redacted, counts = Redactor(patterns=[pattern]).redact_with_counts(text)
    assert secret not in redacted and "[REDACTED]" in redacted
    assert counts[pattern] >= 1
    assert no_network == []


def test_all_pattern_classes_together(listed, no_network):
    redactor = Redactor(listed, patterns=list(PATTERN_CLASSES), placeholders={"email": "<email>"})
    text = " ".join(example for example, _ in PATTERN_EXAMPLES.values()) + " Hans Müller."
    redacted = redactor.redact(text)
    for _, secret in PATTERN_EXAMPLES.values():
        assert secret not in redacted
    assert "Müller" not in redacted and "<email>" in redacted
    assert no_network == []


def test_patterns_leave_ordinary_text_alone(no_network):
    text = "Version 1.2.3 erschien am 12. März; 42 Leute kamen."
    assert Redactor(patterns=["email", "iban", "ip", "credit_card"]).redact(text) == text


def test_an_unknown_pattern_class_is_refused():
    with pytest.raises(ValueError, match="passport"):
        Redactor(patterns=["email", "passport"])


def test_a_missing_ner_model_is_refused_without_a_download(monkeypatch, no_network):
    import spacy.cli

    downloads = []

    def download(*args, **kwargs):
        downloads.append(args)
        raise OSError("offline: spacy.cli.download was called")

    monkeypatch.setattr(spacy.cli, "download", download)
    with pytest.raises(ValueError, match="no_such_model"):
        Redactor(ner_model="no_such_model")
    assert downloads == [], "a missing NER model must be a configuration error, not a download"
    assert no_network == []


# --------------------------------------------------------------------------------------------
# streaming: examples


def test_stream_holds_back_a_prefix_of_a_listed_name(redactor):
    stream = redactor.stream()
    first = stream.feed("Heute kam Hans ")
    assert "Hans" not in first
    assert first == "Heute kam "
    second = stream.feed("Müller vorbei.")
    assert "Müller" not in second and "Hans" not in second
    assert first + second + stream.close() == "Heute kam [REDACTED] vorbei."


def test_stream_releases_a_prefix_once_it_cannot_match(redactor):
    stream = redactor.stream()
    assert stream.feed("Heute kam Hans ") == "Heute kam "
    assert stream.feed("Meier vorbei ") == "Hans Meier vorbei "
    assert stream.close() == ""


def test_stream_holds_back_an_unfinished_word(redactor):
    stream = redactor.stream()
    assert stream.feed("Hallo Wel") == "Hallo "
    assert stream.feed("t! ") == "Welt! "
    assert stream.close() == ""


def test_stream_holds_back_a_phone_number_in_groups(redactor):
    stream = redactor.stream()
    pieces = [stream.feed(chunk) for chunk in ["Tel 044 ", "668 ", "18 ", "00 ", "danke"]]
    pieces.append(stream.close())
    assert "".join(pieces) == "Tel [REDACTED] danke"
    assert not any(regex.search(r"\d", piece) for piece in pieces)


def test_stream_split_inside_an_nfd_sequence(redactor):
    text = "Hans Mu\u0308ller ist da."
    pieces, _, _ = stream_pieces(redactor, ["Hans Mu", "\u0308", "ller ist da."])
    assert "".join(pieces) == redactor.redact(text) == "[REDACTED] ist da."


def test_stream_of_nothing(redactor):
    stream = redactor.stream()
    assert stream.feed("") == ""
    assert stream.close() == ""


def test_stream_two_names_separated_by_a_space(redactor):
    """Two listed values with only a space between: the stream must say what redact() says."""
    text = "Hans Müller Hans Müller"
    pieces, _, _ = stream_pieces(redactor, ["Hans Müller ", "Hans Müller"])
    assert "".join(pieces) == redactor.redact(text)


def test_stream_with_email_pattern_and_a_long_address(email_redactor):
    """An email longer than the pattern hold-back must not be released in part."""
    address = ".".join(f"teil{index}" for index in range(14)) + "@example.com"
    text = f"Schreib an {address} bitte."
    assert email_redactor.redact(text) == "Schreib an [REDACTED] bitte."
    pieces, _, _ = stream_pieces(email_redactor, list(text))
    assert "".join(pieces) == email_redactor.redact(text)
    assert not any("teil0" in piece for piece in pieces)


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_stream_with_email_pattern_and_a_long_run_without_whitespace(email_redactor, chunk):
    """A whitespace-free run longer than the pattern hold-back (base64, a minified line): the
    stream must still cut between words, never inside one, or the rest is tokenized differently
    than in the whole text (here "…aHans" would become "Hans" and match)."""
    text = "a" * 400 + "Hans-Müller" + ".x" * 200 + " Ende"
    assert email_redactor.redact(text) == text  # "aaa…aHans" is one word: no listed name
    pieces, _, _ = stream_pieces(email_redactor, [text[i : i + chunk] for i in range(0, len(text), chunk)])
    assert "".join(pieces) == email_redactor.redact(text)


# --------------------------------------------------------------------------------------------
# streaming: properties

VOCABULARY = [
    "der",
    "und",
    "Brief",
    "heute",
    "Hans",
    "Meier",
    "Müller",
    "müller",
    "Hansmüller",
    "Peter",
    "Keller",
    "Anna",
    "Muster",
    "beispiel",
    "de",
    "other@beispiel.de",
    "044",
    "668",
    "18",
    "00",
    "01",
    "1",
    "8001",
    "Zürich",
    "Bahnhofstrasse",
    "straße",
    "naïve",
    "e\u0301cole",
    "Ωμέγα",
    "日本語",
    "ｗｉｄｅ",
    "Ǆemal",
    "İstanbul",
]
SEPARATORS = [" ", " ", " ", "  ", ", ", ". ", "-", "\n", "\t", "\u00a0", "\u3000", "!", " (", ") ", "/", ": ", "; "]
ITEMS = st.one_of(
    st.sampled_from(VOCABULARY), st.sampled_from(VOCABULARY), st.sampled_from(LISTED_VARIANTS), st.sampled_from(DECOYS)
)
TEXTS = st.lists(st.tuples(ITEMS, st.sampled_from(SEPARATORS)), min_size=1, max_size=25).map(
    lambda items: "".join(item + separator for item, separator in items)
)
SOME_TEXTS = st.one_of(TEXTS, TEXTS.map(lambda text: text.rstrip()))


@st.composite
def chunked(draw, texts=SOME_TEXTS):
    """A text and a chunking of it: one character at a time, or split points anywhere
    (inside words, between a letter and its combining mark)."""
    text = draw(texts)
    if draw(st.booleans()):
        return text, list(text)
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=min(len(text), 40)))
    return text, chunks_at(text, cuts)


# no explain phase: it reruns a failing case dozens of times and adds little to the shrunk example
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
PROPERTY = settings(max_examples=120, deadline=None, phases=PHASES, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(case=chunked())
def test_stream_adds_up_to_whole_text_redaction(redactor, case):
    text, chunks = case
    pieces, _, _ = stream_pieces(redactor, chunks)
    assert "".join(pieces) == redactor.redact(text)


@PROPERTY
@given(case=chunked())
def test_no_piece_contains_a_listed_value(redactor, case):
    text, chunks = case
    pieces, _, _ = stream_pieces(redactor, chunks)
    for piece in pieces:
        for variant in LISTED_VARIANTS:
            assert variant not in piece, (variant, piece)
        assert contains_listed_tokens(piece) is None, piece


@PROPERTY
@given(case=chunked())
def test_no_piece_ends_with_the_start_of_a_listed_value(redactor, case):
    text, chunks = case
    _, boundaries, _ = stream_pieces(redactor, chunks)
    spans = redactor.find(text)
    for boundary in boundaries:
        assert early_prefix(text, boundary) is None, (boundary, text[:boundary], text[boundary:])
        straddling = [span for span in spans if span.start < boundary < span.end]
        assert straddling == [], (boundary, straddling, text[:boundary])


EMAIL_WORDS = ["jane", "doe", "info", "a", "x1", "kontakt", "verwaltung", "Anna", "Muster"]
EMAIL_DOMAINS = ["example.com", "beispiel.de", "mail.example.org"]


def emails(min_words, max_words):
    return st.tuples(
        st.lists(st.sampled_from(EMAIL_WORDS), min_size=min_words, max_size=max_words), st.sampled_from(EMAIL_DOMAINS)
    ).map(lambda parts: ".".join(parts[0]) + "@" + parts[1])


# long local parts too: an address can be longer than what a stream holds back for patterns
EMAIL_TEXTS = st.lists(
    st.tuples(st.one_of(ITEMS, emails(1, 4), emails(12, 18)), st.sampled_from(SEPARATORS)), min_size=1, max_size=10
).map(lambda items: "".join(item + separator for item, separator in items))


@settings(max_examples=60, deadline=None, phases=PHASES, suppress_health_check=[HealthCheck.too_slow])
@given(case=chunked(EMAIL_TEXTS))
def test_stream_with_email_pattern_adds_up_to_whole_text_redaction(email_redactor, case):
    """Equal to whole-text redaction while every whitespace-free run is at most
    ``LONGEST_WORD_RUN`` characters (the pattern window); past that the stream may cut inside a
    run (addresses joined by ``!``, which presidio's regex reads across) and only promises that
    no address comes out."""
    text, chunks = case
    pieces, _, _ = stream_pieces(email_redactor, chunks)
    whole, streamed = email_redactor.redact(text), "".join(pieces)
    if max(map(len, text.split()), default=0) <= LONGEST_WORD_RUN:
        assert streamed == whole
    for address in regex.findall(r"[\w.]+@[\w.]+\.\w+", text):
        assert address in whole or address not in streamed


# --------------------------------------------------------------------------------------------
# an enormous generation, and text that was not UTF-8


def test_an_enormous_generation(redactor):
    filler = "Der Brief kam heute mit der Post, und Hans Meier las ihn zweimal; Müller nicht. Zimmer 18, Seite 01. "
    body = filler * (1_000_000 // len(filler) // 2)
    text = "Hans Müller " + body + "anna.muster@beispiel.de " + body + "044 668 18 00"
    assert len(text.encode()) > 1_000_000
    started = time.perf_counter()
    redacted, counts = redactor.redact_with_counts(text)
    whole = time.perf_counter() - started
    assert redacted == "[REDACTED] " + body + "[REDACTED] " + body + "[REDACTED]"
    assert counts == Counter({"name": 1, "email": 1, "phone": 1})
    step = 4096
    started = time.perf_counter()
    pieces, _, _ = stream_pieces(redactor, [text[i : i + step] for i in range(0, len(text), step)])
    streamed = time.perf_counter() - started
    assert "".join(pieces) == redacted
    print(f"1 MB: redact {whole:.2f}s, stream in 4 KiB chunks {streamed:.2f}s")


def test_text_with_lone_surrogates_does_not_crash(redactor):
    """Redactor works on str. Bytes that were not UTF-8, decoded with surrogateescape, keep
    lone surrogates; they are not word characters, so they split words, and redaction still
    works around them (a listed value spelled with them is not recognized)."""
    raw = "Hans Müller, ".encode() + "Hans Müller".encode("latin-1") + b" \xff\xfe end"
    text = raw.decode("utf-8", errors="surrogateescape")
    assert "\udcfc" in text and "\udcff" in text
    redacted = redactor.redact(text)
    # normalization v2 also lists "Müller, Hans" (Surname, Given): it overlaps the first name
    assert redacted == "[REDACTED] M\udcfcller \udcff\udcfe end"
    assert redacted.encode("utf-8", errors="surrogateescape").endswith(b"M\xfcller \xff\xfe end")
    pieces, _, _ = stream_pieces(redactor, list(text))
    assert "".join(pieces) == redacted
