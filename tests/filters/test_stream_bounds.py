"""Streaming under hostile text: what a stream holds back is bounded, so redaction work grows
linearly with the length of a stream, and no input makes one chunk cost more than the text it
brings plus a bounded window. Work is counted in characters scanned, not seconds, so these
tests say the same on a loaded machine.
"""

from datetime import UTC, datetime

import pytest

from apertus_compliance.filters import DeletionList, Redactor, build_release, generate_keypair
from apertus_compliance.filters.redactor import LONG_TOKEN_TAIL, MAX_HOLD_BACK

REQUESTS = (
    "value,category,region\n"
    "Hans Müller,name,\n"
    "Hans Peter Keller,name,\n"
    "anna.muster@beispiel.de,email,\n"
    "+41 79 123 45 67,phone,CH\n"
)


class CountingRedactor(Redactor):
    """A Redactor that counts the characters every scan of the stream looks at."""

    scanned = 0

    def safe_cut(self, text):
        self.scanned += len(text)
        return super().safe_cut(text)

    def find(self, text):
        self.scanned += len(text)
        return super().find(text)


@pytest.fixture(scope="module")
def listed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    private, public = generate_keypair(folder / "keys")
    (folder / "requests.csv").write_text(REQUESTS, encoding="utf-8")
    build_release(
        folder / "requests.csv", private, folder / "release", "bounds-1", created=datetime(2025, 1, 1, tzinfo=UTC)
    )
    return DeletionList.load(folder / "release", public)


def run_stream(redactor, chunks):
    """Feed ``chunks``; the released text, and the most the stream ever held back."""
    stream = redactor.stream()
    pieces, most_pending = [], 0
    for chunk in chunks:
        pieces.append(stream.feed(chunk))
        most_pending = max(most_pending, len(stream.pending))
    pieces.append(stream.close())
    return "".join(pieces), most_pending


def counting(listed, **options):
    return CountingRedactor(listed, **options)


HOSTILE_STREAMS = {
    # a phone number on the list and a stream of space-separated numbers: one long digit run
    "counting": lambda n: [f"{number} " for number in range(1, n)],
    "digits without spaces": lambda n: ["7"] * (n * 3),
    "one endless word": lambda n: ["a"] * (n * 3),
    "a listed first name, again and again": lambda n: ["Hans "] * n,
    "phone groups that never end": lambda n: ["41 ", "79 ", "123 ", "45 "] * (n // 4),
}


@pytest.mark.parametrize("patterns", [(), ("email",)])
@pytest.mark.parametrize("name", sorted(HOSTILE_STREAMS))
def test_hold_back_is_bounded_and_work_is_linear(listed, name, patterns):
    short, long = HOSTILE_STREAMS[name](200), HOSTILE_STREAMS[name](2000)
    work = []
    for chunks in (short, long):
        redactor = counting(listed, patterns=patterns)
        text = "".join(chunks)
        released, most_pending = run_stream(redactor, chunks)
        assert most_pending <= 600 or (
            name in ("one endless word", "digits without spaces") and most_pending <= MAX_HOLD_BACK + 3
        ), (name, most_pending)
        work.append(redactor.scanned / len(text))
        assert released == Redactor(listed, patterns=patterns).redact(text)
    # characters scanned per character streamed: the same for a 10x longer stream (linear)
    assert work[1] <= work[0] * 1.5 + 1, work


def test_counting_to_a_thousand_still_redacts_a_listed_number_inside_it(listed):
    chunks = [f"{number} " for number in range(1, 500)] + ["+41 ", "79 ", "123 ", "45 ", "67 "]
    chunks += [f"{number} " for number in range(500, 1000)]
    released, _ = run_stream(Redactor(listed), chunks)
    assert "123 45 67" not in released
    assert "[REDACTED]" in released
    assert released == Redactor(listed).redact("".join(chunks))


def test_an_endless_word_is_released_as_it_grows_and_its_tail_is_not_a_word_of_its_own(listed):
    redactor = Redactor(listed)
    stream = redactor.stream()
    released = [stream.feed("x" * 10) for _ in range(1000)]
    assert len(stream.pending) <= MAX_HOLD_BACK
    assert sum(map(len, released)) >= 10_000 - MAX_HOLD_BACK
    # "Hans" ends the over-long word "xxx...Hans": it is not the listed name's first word, on its own
    # as in the whole text; the stream kept enough of the word (LONG_TOKEN_TAIL) to know that
    tail = [stream.feed(chunk) for chunk in ["Hans", " Müller", " sagte", " Hans Müller", " ."]]
    tail.append(stream.close())
    text = "".join(released + tail)
    assert text == "x" * 10_000 + "Hans Müller sagte [REDACTED] ."
    assert text == redactor.redact("x" * 10_000 + "Hans Müller sagte Hans Müller .")


def test_a_cut_inside_an_over_long_word_keeps_its_tail_long(listed):
    redactor = Redactor(listed)
    stream = redactor.stream()
    out = stream.feed("y" * (MAX_HOLD_BACK + 500))
    assert len(stream.pending) >= LONG_TOKEN_TAIL
    out += stream.feed("_Hans_Müller_") + stream.close()
    assert out == redactor.redact("y" * (MAX_HOLD_BACK + 500) + "_Hans_Müller_")
    assert "Müller" not in out


def test_a_long_digit_run_releases_all_but_its_last_groups(listed):
    redactor = Redactor(listed)
    stream = redactor.stream()
    out = "".join(stream.feed(f"{number} ") for number in range(1, 1000))
    assert out.startswith("1 2 3 ")
    assert len(stream.pending.split()) <= 7  # at most LONGEST_PHONE_GROUPS - 1 groups held back
