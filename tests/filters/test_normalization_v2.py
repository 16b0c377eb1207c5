"""Normalization v2: variants written to slip past the filter are caught, the original text
around them is kept exactly, look-alikes of other people stay untouched, and v1 releases are
still read and matched as they were built.

Tables in presidio's style: (text, expected output). Releases are built the normal way, with
``build_release`` from a CSV of requests and a real key pair.
"""

import json
import random
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from apertus_compliance.filters import DeletionList, Redactor, build_release, generate_keypair
from apertus_compliance.filters.deletion_list import (
    CATEGORIES,
    MAX_ENTRY_TOKENS,
    _load_key,
    _signed_bytes,
    release_hash_key,
    token_hashes,
    window_hashes,
    write_release,
)
from apertus_compliance.filters.normalize import (
    NORMALIZATION_VERSION,
    SUPPORTED_NORMALIZATION_VERSIONS,
    entry_sequences,
    fold_token,
    stable_prefix,
    text_streams,
)

CREATED = datetime(2025, 6, 1, tzinfo=UTC)
REQUESTS = (
    "value,category,region\n"
    "Jonas Müller,name,\n"
    "José García,name,\n"
    "Łukasz Wróbel,name,\n"
    "Søren Þórsson,name,\n"
    "Hans Peter Keller,name,\n"
    "王小明,name,\n"
    "山田太郎,name,\n"
    "김민수,name,\n"
    "anna.muster@beispiel.de,email,\n"
    "044 668 18 00,phone,CH\n"
    "+41 79 123 45 67,phone,\n"
    "030 1234567,phone,DE\n"
    "Bahnhofstrasse 1 8001 Zürich,address,\n"
)
R = "[REDACTED]"


def build(folder, requests=REQUESTS):
    private, public = generate_keypair(folder / "keys")
    (folder / "requests.csv").write_text(requests, encoding="utf-8")
    manifest = build_release(folder / "requests.csv", private, folder / "release", "v2-test", created=CREATED)
    return manifest, DeletionList.load(folder / "release", public)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build(tmp_path_factory.mktemp("v2"))


@pytest.fixture(scope="module")
def redactor(built):
    return Redactor(built[1])


# --------------------------------------------------------------------------------------------
# variants that are caught; only the listed value is replaced, everything around it is kept

NAMES = [
    # invisible characters inside a name
    ("Gestern kam Jo\u200bnas Müller vorbei.", f"Gestern kam {R} vorbei."),  # zero-width space
    ("Gestern kam Jonas Mül\u00adler vorbei.", f"Gestern kam {R} vorbei."),  # soft hyphen
    ("Gestern kam Jo\u2060nas Mül\u2060ler vorbei.", f"Gestern kam {R} vorbei."),  # word joiner
    ("Gestern kam Jonas Mü\u200eller vorbei.", f"Gestern kam {R} vorbei."),  # left-to-right mark
    ("Gestern kam J\u202eonas\u202c Müller vorbei.", f"Gestern kam {R} vorbei."),  # bidi override
    ("Gestern kam Jon\ufe0fas Müller vorbei.", f"Gestern kam {R} vorbei."),  # variation selector
    ("Gestern kam Jonas Mü\u200dl\u200cler vorbei.", f"Gestern kam {R} vorbei."),  # ZWJ, ZWNJ
    ("Gestern kam \ufeffJonas Müller\ufeff vorbei.", f"Gestern kam \ufeff{R}\ufeff vorbei."),  # around: kept
    # Cyrillic and Greek look-alike letters
    ("Gestern kam J\u043en\u0430s M\u00fcll\u0435r vorbei.", f"Gestern kam {R} vorbei."),  # о а е
    ("Gestern kam \u0408ONAS MÜLLER vorbei.", f"Gestern kam {R} vorbei."),  # Cyrillic Je
    ("Gestern kam \u0397ans Peter \u039aeller vorbei.", f"Gestern kam {R} vorbei."),  # Greek Eta, Kappa
    ("Gestern kam JO\u039dAS MÜLLER vorbei.", f"Gestern kam {R} vorbei."),  # Greek capital Nu
    ("Gestern kam Jos\u0435\u0301 Garc\u0456a vorbei.", f"Gestern kam {R} vorbei."),  # е + accent, і
    # markup inside or around a name, character references, percent escapes
    ("Gestern kam J**onas** Müller vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam **Jonas Müller** vorbei.", f"Gestern kam **{R}** vorbei."),
    ("Gestern kam _Jonas_ Müller vorbei.", f"Gestern kam _{R} vorbei."),
    ("Gestern kam `Jonas Müller` vorbei.", f"Gestern kam `{R}` vorbei."),
    ("Gestern kam ~~Jo~~nas Müller vorbei.", f"Gestern kam ~~{R} vorbei."),
    ("Gestern kam Jonas&nbsp;Müller vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Jonas<b>Müller</b> vorbei.", f"Gestern kam {R}</b> vorbei."),
    ("Gestern kam <b>Jonas</b> <i>Müller</i> vorbei.", f"Gestern kam <b>{R}</i> vorbei."),
    ('Gestern kam Jo<span class="x">nas</span> Müller vorbei.', f"Gestern kam {R} vorbei."),
    ("Gestern kam Jonas M&uuml;ller vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Jonas M&#252;ller vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Jonas M&#xFC;ller vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Jonas%20M%C3%BCller vorbei.", f"Gestern kam {R} vorbei."),
    # mixed diacritics, letters without a decomposition written in ASCII
    ("Gestern kam José Garcia vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Jose García vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam JOSE GARCIA vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Lukasz Wrobel vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Łukasz Wrobel vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam ŁUKASZ WRÓBEL vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Soren Thorsson vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Søren Thórsson vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Soeren Þorsson vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Jonas Mueller vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Jonas Muller vorbei.", f"Gestern kam {R} vorbei."),
    # Surname, Given
    ("Gestern kam Müller, Jonas vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam MUELLER, Jonas vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Garcia, José vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Keller, Hans Peter vorbei.", f"Gestern kam {R} vorbei."),
    ("Gestern kam Wróbel, Łukasz vorbei.", f"Gestern kam {R} vorbei."),
    # Chinese and Japanese names inside a sentence
    ("我昨天见到了王小明。", f"我昨天见到了{R}。"),
    ("王小明是我的朋友", f"{R}是我的朋友"),
    ("昨日山田太郎さんに会いました。", f"昨日{R}さんに会いました。"),
    ("ＧＥＳＴＥＲＮ ｋａｍ 山田太郎", f"ＧＥＳＴＥＲＮ ｋａｍ {R}"),
    ("어제 김민수가 왔다.", f"어제 {R}가 왔다."),  # Hangul: the particle is written onto the name
    ("어제 \u1100\u1175\u11b7\u1106\u1175\u11ab\u1109\u116e가 왔다.", f"어제 {R}가 왔다."),  # in jamo (NFD)
]

EMAILS = [
    ("Mail an anna dot muster at beispiel dot de bitte.", f"Mail an {R} bitte."),
    ("Mail an anna.muster(at)beispiel.de bitte.", f"Mail an {R} bitte."),
    ("Mail an anna.muster [at] beispiel [dot] de bitte.", f"Mail an {R} bitte."),
    ("Mail an anna.muster {at} beispiel(dot)de bitte.", f"Mail an {R} bitte."),
    ("Mail an ANNA.MUSTER AT BEISPIEL DOT DE bitte.", f"Mail an {R} bitte."),
    ("Mail an anna punkt muster at beispiel punkt de bitte.", f"Mail an {R} bitte."),
    ("Mail an anna.muster%40beispiel.de bitte.", f"Mail an {R} bitte."),
    ("Mail an anna.muster&#64;beispiel.de bitte.", f"Mail an {R} bitte."),
    ("Mail an anna.muster&#x40;beispiel&#46;de bitte.", f"Mail an {R} bitte."),
    ("Mail an anna.muster\uff20beispiel.de bitte.", f"Mail an {R} bitte."),  # full-width @
    ("Mail an anna.mu\u200bster@beispiel.de bitte.", f"Mail an {R} bitte."),
    ('Mail an <a href="mailto:anna.muster@beispiel.de">', f'Mail an <a href="mailto:{R}">'),
]

PHONES = [
    ("Tel. 0041 44 668 18 00 (Büro)", f"Tel. {R} (Büro)"),
    ("Tel. 0041446681800 (Büro)", f"Tel. {R} (Büro)"),
    ("Tel. +41 (0)44 668 18 00 (Büro)", f"Tel. +{R} (Büro)"),
    ("Tel. +41 (0) 44 668 18 00 (Büro)", f"Tel. +{R} (Büro)"),
    ("Tel. 044\u202f668\u202f18\u202f00 (Büro)", f"Tel. {R} (Büro)"),  # narrow no-break space
    ("Tel. 044\u2009668\u200918\u200900 (Büro)", f"Tel. {R} (Büro)"),  # thin space
    ("Tel. 044\u2013668\u201318\u201300 (Büro)", f"Tel. {R} (Büro)"),  # en dash
    ("Tel. 044\t668\t18\t00 (Büro)", f"Tel. {R} (Büro)"),
    ("Tel. ０４４ ６６８ １８ ００ (Büro)", f"Tel. {R} (Büro)"),  # full-width digits
    ("Tel. ＋４１\u3000４４\u3000６６８\u3000１８\u3000００ (Büro)", f"Tel. ＋{R} (Büro)"),
    ("Tel. 044\u00a0668\u00a018\u00a000 (Büro)", f"Tel. {R} (Büro)"),
    ("Tel. 044\u2011668\u201118\u201100 (Büro)", f"Tel. {R} (Büro)"),  # non-breaking hyphen
    ("Tel. 044 6\u200b68 18 00 (Büro)", f"Tel. {R} (Büro)"),
    ("Ruf tel:+41446681800 an", f"Ruf tel:+{R} an"),
    ("Ruf tel:0041446681800 an", f"Ruf tel:{R} an"),
    ('<a href="tel:+41-44-668-18-00">anrufen</a>', f'<a href="tel:+{R}">anrufen</a>'),
    ("Ruf tel:%2B41446681800 an", f"Ruf tel:%2B{R} an"),
    ("Handy 079 123 45 67 oder", f"Handy {R} oder"),
    ("Handy 0041 79 123 45 67 oder", f"Handy {R} oder"),
    ("Handy +41 (0)79 123 45 67 oder", f"Handy +{R} oder"),
    ("Handy +41\u00a079\u00a0123\u00a045\u00a067 oder", f"Handy +{R} oder"),
    ("Handy 0791234567 oder", f"Handy {R} oder"),
    ("Berlin 0049 30 1234567 oder", f"Berlin {R} oder"),
    ("Berlin +49 (0)30 1234567 oder", f"Berlin +{R} oder"),
    ("Berlin +49 30 1234567 oder", f"Berlin +{R} oder"),
    ("Berlin 030 1234567 oder", f"Berlin {R} oder"),
    ("Berlin 030\u20131234567 oder", f"Berlin {R} oder"),
]

ADDRESSES = [
    ("Wohnt an der Bahnhofstra\u00dfe 1, 8001 Zürich.", f"Wohnt an der {R}."),
    ("Wohnt an der Bahnhofstrasse&nbsp;1, 8001&nbsp;Z&uuml;rich.", f"Wohnt an der {R}."),
]


@pytest.mark.parametrize(("text", "expected"), NAMES + EMAILS + PHONES + ADDRESSES, ids=ascii)
def test_variant_is_redacted_and_the_rest_is_kept(redactor, text, expected):
    assert redactor.redact(text) == expected


def test_categories_are_counted_once_per_value(redactor):
    text = "J**onas** Müller: anna dot muster at beispiel dot de, 0041 44 668 18 00, Lukasz Wrobel."
    redacted, counts = redactor.redact_with_counts(text)
    assert redacted == f"{R}: {R}, {R}, {R}."
    assert counts == Counter({"name": 2, "email": 1, "phone": 1})


# --------------------------------------------------------------------------------------------
# precision: other people, other addresses, other numbers stay untouched

DECOYS = [
    "Jonas Meier",
    "Jonas Schmid",
    "Jonas",
    "Müller",
    "Frau Müller",
    "Anna Müller",
    "Jonasmüller",
    "JonasMüllerx",
    "Jonas at Müller",  # "at" is dropped for emails only
    "José Pérez",
    "Maria García",
    "García",
    "Łukasz Nowak",
    "Piotr Wróbel",
    "Søren Kierkegaard",
    "Thorsson",
    "Peter Keller",
    "Hans Peter",
    "Keller, Hans",
    "Hans Keller",
    "王小红",
    "王大明",
    "小明",
    "山田花子",
    "田中太郎",
    "김민준",
    "민수",
    "other@beispiel.de",
    "anna.muster@beispiel.ch",
    "anna@beispiel.de",
    "muster@beispiel.de",
    "anna dot muster at example dot com",
    "anna.muster%40beispiel.com",
    "anna.meier&#64;beispiel.de",
    "044 668 18 01",
    "0041 44 668 18 01",
    "+41 (0)44 668 18 01",
    "044\u202f668\u202f18\u202f10",
    "079 123 45 68",
    "+41 79 123 45 76",
    "0049 30 1234568",
    "+49 (0)30 1234566",
    "030 1234576",
    "Bahnhofstrasse 2, 8001 Zürich",
    "Bahnhofstrasse 1, 8002 Zürich",
    "J**o**hn Müller",
    "Jon<b>as</b>son",
    "M&uuml;llerin",
    "ΗΑΝS",
    "Иван Петров",
]


@pytest.mark.parametrize("decoy", DECOYS, ids=ascii)
def test_decoy_is_left_alone(redactor, decoy):
    text = f"Erwähnt: {decoy}, sonst nichts."
    assert redactor.redact(text) == text
    assert redactor.find(text) == []


FIRST_NAMES = [
    "Anna",
    "Lea",
    "Noah",
    "Luca",
    "Mia",
    "Elias",
    "Lina",
    "David",
    "Sara",
    "Marco",
    "Pablo",
    "Piotr",
    "Maja",
    "Ole",
    "Ingrid",
    "Ana",
    "Carlos",
    "Ewa",
    "Lars",
    "Emil",
]
SURNAMES = [
    "Meier",
    "Schmid",
    "Keller",
    "Weber",
    "Huber",
    "Pérez",
    "López",
    "Nowak",
    "Kowalski",
    "Hansen",
    "Jensen",
    "Berg",
    "Fischer",
    "Wagner",
    "Brunner",
    "Moser",
    "Graf",
    "Frei",
    "Roth",
    "Baumann",
]


def decoy_set() -> list[str]:
    """A few hundred look-alikes of the listed values: the same first name with another surname,
    a listed surname with another first name or alone, other addresses at the listed domain,
    numbers one digit apart, written in the same ways as the variants above."""
    rng = random.Random(12)
    decoys = []
    for first, last in (("Jonas", "Müller"), ("José", "García"), ("Łukasz", "Wróbel"), ("Søren", "Þórsson")):
        decoys += [f"{first} {other}" for other in SURNAMES]
        decoys += [f"{other} {last}" for other in FIRST_NAMES]
        decoys += [f"{other}, {first}" for other in SURNAMES[:8]]
        decoys += [last, first, f"Herr {last}", f"{first}{last}"]
    decoys += [f"Hans Peter {other}" for other in SURNAMES if other != "Keller"]
    decoys += [f"{other} Peter Keller" for other in FIRST_NAMES[:8]]
    # (punctuation inside an address is not told apart: "anna_muster@" and "anna-muster@" are the listed one)
    decoys += [
        f"{local}@beispiel.de"
        for local in (
            "info",
            "anna",
            "muster",
            "anna.muster2",
            "a.muster",
            "kontakt",
            "annamuster",
            "anna.mustermann",
            "hanna.muster",
            "jonas",
        )
    ]
    decoys += [f"{local} at beispiel dot de" for local in ("info", "anna", "anna dot mustermann", "anna dot meier")]
    decoys += ["anna.muster@beispiel.com", "anna.muster@beispiel.dev", "anna.muster at beispiel dot ch"]
    for number, national in (
        ("41446681800", "0446681800"),
        ("41791234567", "0791234567"),
        ("49301234567", "0301234567"),
    ):
        for position in range(2, len(number)):
            for delta in (1, 9):
                digits = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
                national_digits = national[0] + digits[2:]
                decoys.append(
                    rng.choice(
                        [
                            f"+{digits[:2]} {digits[2:4]} {digits[4:7]} {digits[7:]}",
                            f"00{digits}",
                            f"+{digits[:2]} (0){digits[2:]}",
                        ]
                    )
                )
                decoys.append(" ".join([national_digits[:3], national_digits[3:6], national_digits[6:]]))
    return decoys


def test_decoy_set_is_left_alone(redactor):
    decoys = decoy_set()
    assert len(decoys) >= 300
    altered = [decoy for decoy in decoys if redactor.redact(f"Kontakt: {decoy}.") != f"Kontakt: {decoy}."]
    assert len(altered) <= 0.02 * len(decoys), altered
    print(f"decoys altered: {len(altered)} of {len(decoys)}: {altered}")


# --------------------------------------------------------------------------------------------
# the pieces: streams with offsets into the original text, folding, entry variants, stable prefix


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("J**onas** Müller", ["J**onas", "Müller"]),
        ("Jonas<b>Müller</b>", ["Jonas", "Müller"]),
        ("M&uuml;ller", ["M&uuml;ller"]),
        ("Jo\u200bnas", ["Jo\u200bnas"]),
        ("a%40b", ["a", "b"]),
        ("王小明", ["王", "小", "明"]),
    ],
    ids=ascii,
)
def test_some_stream_maps_tokens_back_to_the_original_text(text, words):
    assert any(
        [text[start:end] for start, end in zip(stream.starts, stream.ends, strict=True)] == words
        for stream in text_streams(text)
    )


def test_plain_text_is_read_once():
    assert len(text_streams("Hans Müller kam um 10 Uhr at home.")) == 1
    assert len(text_streams("Hans at home", emails=True)) == 2  # and once more without "at", for emails


@pytest.mark.parametrize(
    ("token", "folded"),
    [
        ("Müller", "muller"),
        ("MU\u0308LLER", "muller"),
        ("Łukasz", "lukasz"),
        ("Søren", "soren"),
        ("Þórsson", "thorsson"),
        ("Æsir", "aesir"),
        ("Đorđe", "dorde"),
        ("Straße", "strasse"),
        ("Œuvre", "oeuvre"),
        ("ıi", "ii"),
        ("Ｍüｌｌｅｒ", "muller"),
        ("J\u043en\u0430s", "jonas"),
        ("\u0397\u0391\u039dS", "hans"),
        ("０４４", "044"),
    ],
    ids=ascii,
)
def test_fold_token(token, folded):
    assert fold_token(token) == folded


def test_entry_variants_stay_well_under_the_token_bound():
    for value, category, region in [
        ("Hans Peter Maria von und zu Keller-Müller", "name", None),
        ("Bahnhofstrasse 1 8001 Zürich", "address", None),
        ("anna.maria.muster-keller@sub.beispiel.de", "email", None),
        ("+41 (0)44 668 18 00", "phone", None),
    ]:
        sequences = entry_sequences(value, category, region)
        assert sequences and max(map(len, sequences)) <= 12 < MAX_ENTRY_TOKENS


def test_names_are_listed_in_both_orders():
    sequences = entry_sequences("Jonas Müller", "name")
    assert ("jonas", "muller") in sequences and ("muller", "jonas") in sequences and ("jonas", "mueller") in sequences
    assert ("muller", "jonas") not in entry_sequences("Jonas Müller", "other")


def test_phone_variants():
    (digits,) = zip(*entry_sequences("044 668 18 00", "phone", "CH"), strict=True)
    assert {"0446681800", "41446681800", "0041446681800", "410446681800"} <= set(digits)


@pytest.mark.parametrize(
    ("text", "stable"),
    [
        ("Hallo Welt", 10),
        ("Hallo <b", 6),
        ("Hallo </", 6),
        ("Hallo <", 6),
        ("a < b", 5),
        ("a <b>", 2),
        ("Jo<b>", 2),
        ("x &uum", 2),
        ("x &#6", 2),
        ("x &#x4", 2),
        ("x &amp;", 2),
        ("x & y", 5),
        ("x %4", 2),
        ("x %C3", 2),
        ("x %41", 2),
        ("J**", 1),
        ("Jo\u200b", 2),
        ("Jo\u200b*<i>&shy;", 2),
        ("50% mehr", 8),
        ("<" + "x" * 300, 301),
        ("&" + "x" * 20, 21),
    ],
    ids=ascii,
)
def test_stable_prefix(text, stable):
    assert stable_prefix(text) == stable


def test_stable_prefix_holds_what_appending_can_change():
    """Whatever follows, the tokens wholly inside the stable prefix are read the same."""
    suffixes = ["", "b>", ";", "4;", "0", "ml;ler", "nas Müller", "%BC", "*", " x"]
    for text in ["Hallo <b", "x &uum", "x &#6", "x %C3", "x %4", "J**", "Jo\u200b", "a <b> c", "Jo<i>"]:
        cut = stable_prefix(text)
        for suffix in suffixes:
            for stream_of_whole, stream_of_part in zip(
                text_streams(text + suffix)[:1], text_streams(text[:cut])[:1], strict=True
            ):
                inside = [
                    (t, s, e)
                    for t, s, e in zip(
                        stream_of_whole.tokens, stream_of_whole.starts, stream_of_whole.ends, strict=True
                    )
                    if e < cut
                ]
                part = [
                    (t, s, e)
                    for t, s, e in zip(stream_of_part.tokens, stream_of_part.starts, stream_of_part.ends, strict=True)
                    if e < cut
                ]
                assert inside == part, (text, suffix)


def test_the_release_says_normalization_v2(built):
    manifest, listed = built
    assert NORMALIZATION_VERSION == 2 and SUPPORTED_NORMALIZATION_VERSIONS == (1, 2)
    assert manifest["normalization_version"] == 2 == listed.manifest["normalization_version"]


# --------------------------------------------------------------------------------------------
# a v1 release is still read and matched as it was built

V1_REQUESTS = (
    "value,category,region\nHans Müller,name,\nŁukasz Wróbel,name,\nanna.muster@beispiel.de,email,\n"
    "044 668 18 00,phone,CH\n"
)


def build_v1(folder):
    """A v1 release as the v1 builder wrote it: v1 entry variants, hashed and signed (the
    manifest re-signed with ``normalization_version: 1``)."""
    private, public = generate_keypair(folder / "keys")
    key = release_hash_key(private, "v1-test")
    entries, prefixes, counts, longest = {}, set(), Counter(), 1
    for line in V1_REQUESTS.splitlines()[1:]:
        value, category, region = line.split(",")
        counts[category] += 1
        for tokens in entry_sequences(value, category, region or None, version=1):
            longest = max(longest, len(tokens))
            hashes = window_hashes(token_hashes(list(tokens), key), len(tokens))
            entries.setdefault(int(hashes[-1][0]), CATEGORIES.index(category))
            prefixes.update(int(hashes[width - 1][0]) for width in range(1, len(tokens)))
    order = np.array(sorted(entries), dtype=np.uint64)
    write_release(
        folder / "release",
        private,
        "v1-test",
        key,
        order,
        np.array([entries[int(value)] for value in order], dtype=np.uint8),
        np.array(sorted(prefixes), dtype=np.uint64),
        counts,
        longest,
        CREATED,
    )
    path = folder / "release" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["normalization_version"] = 1
    manifest["signature"] = _load_key(private, private=True).sign(_signed_bytes(manifest)).hex()
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return DeletionList.load(folder / "release", public)


@pytest.fixture(scope="module")
def v1_redactor(tmp_path_factory):
    return Redactor(build_v1(tmp_path_factory.mktemp("v1")))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gestern kam Hans Müller vorbei.", f"Gestern kam {R} vorbei."),
        ("Gestern kam HANS MUELLER vorbei.", f"Gestern kam {R} vorbei."),
        ("Gestern kam Hans Mu\u0308ller vorbei.", f"Gestern kam {R} vorbei."),
        ("Gestern kam Łukasz Wrobel vorbei.", f"Gestern kam {R} vorbei."),
        ("Mail an anna.muster@beispiel.de bitte.", f"Mail an {R} bitte."),
        ("Tel. 044 668 18 00 (Büro)", f"Tel. {R} (Büro)"),
        ("Tel. +41 44 668 18 00 (Büro)", f"Tel. +{R} (Büro)"),
        # what v1 never matched, it still does not: v2 variants need a v2 release
        ("Gestern kam Hans Mül\u00adler vorbei.", "Gestern kam Hans Mül\u00adler vorbei."),
        ("Gestern kam Lukasz Wrobel vorbei.", "Gestern kam Lukasz Wrobel vorbei."),
        ("Gestern kam Müller, Hans vorbei.", "Gestern kam Müller, Hans vorbei."),
        ("Mail an anna dot muster at beispiel dot de bitte.", "Mail an anna dot muster at beispiel dot de bitte."),
        ("Tel. 0041 44 668 18 00 (Büro)", "Tel. 0041 44 668 18 00 (Büro)"),
    ],
    ids=ascii,
)
def test_a_v1_release_matches_as_before(v1_redactor, text, expected):
    assert v1_redactor.deletion_list.manifest["normalization_version"] == 1
    assert v1_redactor.redact(text) == expected


# --------------------------------------------------------------------------------------------
# streaming: what a stream must hold back for v2 (``Redactor._list_hold_back``)


def test_hold_back_is_bounded(redactor):
    text = "Hallo <b " + "xy " * 700  # an unfinished tag longer than any tag is plain text
    assert len(text) - redactor._list_hold_back(text) <= 600
    text = "Hallo " + "\u200b" * 2000
    assert len(text) - redactor._list_hold_back(text) <= 600


@pytest.mark.parametrize(("text", "expected"), NAMES + EMAILS + PHONES + ADDRESSES, ids=ascii)
@pytest.mark.parametrize("step", [1, 3, 8])
def test_a_real_stream_keeps_every_variant_whole(redactor, text, expected, step):
    stream = redactor.stream()
    pieces = [stream.feed(text[i : i + step]) for i in range(0, len(text), step)]
    assert "".join(pieces) + stream.close() == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gestern kam Jo\u200bnas Müller vorbei.", f"Gestern kam {R} vorbei."),
        ("Gestern kam J**onas** Müller vorbei.", f"Gestern kam {R} vorbei."),
        ("Mail an anna dot muster at beispiel dot de bitte.", f"Mail an {R} bitte."),
        ("Mail an anna.muster&#64;beispiel.de bitte.", f"Mail an {R} bitte."),
    ],
    ids=ascii,
)
def test_a_real_stream_keeps_variants_whole(redactor, text, expected):
    stream = redactor.stream()
    assert "".join(stream.feed(char) for char in text) + stream.close() == expected
