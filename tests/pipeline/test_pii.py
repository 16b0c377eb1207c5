"""PII masking tables in presidio's style: (text, expected spans) and (text, expected masked text)."""

import itertools

import pytest
from datatrove.data import Document
from hypothesis import given, settings
from hypothesis import strategies as st

from apertus_compliance.pipeline.pii import (
    IBAN_LENGTHS,
    PIIMasker,
    PiiSpan,
    find_pii,
    iban_checksum_ok,
    mask_pii,
)

# Published examples (ISO 13616 / national banks), all with valid check digits.
IBANS = {
    "DE": "DE89370400440532013000",
    "GB": "GB82WEST12345698765432",
    "CH": "CH9300762011623852957",
    "FR": "FR1420041010050500013M02606",
    "IT": "IT60X0542811101000000123456",
    "NL": "NL91ABNA0417164300",
    "AT": "AT611904300234573201",
    "ES": "ES9121000418450200051332",
    "LI": "LI21088100002324013AA",
    "PL": "PL61109010140000071219812874",
}


def grouped(iban: str, size: int = 4) -> str:
    return " ".join(iban[i : i + size] for i in range(0, len(iban), size))


@pytest.mark.parametrize(
    "text, expected",
    [
        # emails
        ("Write to john.doe@example.com today.", [(9, 29, "email")]),
        ("<a@b.co>", [(1, 7, "email")]),
        ("mailto:first+tag@sub.mail.example.org", [(7, 37, "email")]),
        # IPv4
        ("server 8.8.8.8 answered", [(7, 14, "ip")]),
        ("from 192.168.1.1:8080", [(5, 16, "ip")]),
        # IPv6
        ("addr 2001:db8::1 up", [(5, 16, "ip")]),
        ("[::1]:443", [(1, 4, "ip")]),
        # IBAN
        ("IBAN DE89 3704 0044 0532 0130 00 please", [(5, 32, "iban")]),
        ("pay NL91ABNA0417164300.", [(4, 22, "iban")]),
        # several, sorted
        ("a@b.de 1.1.1.1 CH9300762011623852957", [(0, 6, "email"), (7, 14, "ip"), (15, 36, "iban")]),
        # an IPv4 inside an email's local part: one email span
        ("1.2.3.4@example.com", [(0, 19, "email")]),
        # IPv4 inside IPv6: the longer IPv6 wins
        ("::ffff:192.0.2.128", [(0, 18, "ip")]),
        ("nothing here", []),
        ("", []),
    ],
)
def test_find_pii_spans(text, expected):
    assert find_pii(text) == [PiiSpan(start, end, category) for start, end, category in expected]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Contact jane@example.org or support@mail.example.co.uk.", "Contact <email-pii> or <email-pii>."),
        ("User: Max.Mustermann@beispiel.de, Tel. 030 1234567", "User: <email-pii>, Tel. 030 1234567"),
        ("ünïcödé@exämple.de", "<email-pii>"),
        ("O'Brien <ob@example.ie>", "O'Brien <<email-pii>>"),
        ("punycode a@xn--80ak6aa92e.com and a@b.xn--p1ai", "punycode <email-pii> and <email-pii>"),
        ("reply to a@b.com.", "reply to <email-pii>."),
        ("x@y.com, y@z.org; z@w.net", "<email-pii>, <email-pii>; <email-pii>"),
    ],
)
def test_emails_masked(text, expected):
    assert mask_pii(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "follow @apertus on social media",
        "@dataclass(frozen=True)",
        "user@localhost",
        "npm install pkg@1.2.3",
        "a @ b.com",
        "email at example dot com",
        "foo.@example.com",
    ],
)
def test_not_emails(text):
    assert find_pii(text) == []


@pytest.mark.parametrize(
    "text, expected, expected_public_only",
    [
        ("public 8.8.8.8 here", "public <ip-pii> here", "public <ip-pii> here"),
        ("home 192.168.0.1 router", "home <ip-pii> router", "home 192.168.0.1 router"),
        ("private 10.0.0.5, 172.16.3.4", "private <ip-pii>, <ip-pii>", "private 10.0.0.5, 172.16.3.4"),
        ("loopback 127.0.0.1", "loopback <ip-pii>", "loopback 127.0.0.1"),
        ("link-local 169.254.10.20", "link-local <ip-pii>", "link-local 169.254.10.20"),
        ("docs 192.0.2.44 and 203.0.113.7", "docs <ip-pii> and <ip-pii>", "docs 192.0.2.44 and 203.0.113.7"),
        ("multicast 224.0.0.251", "multicast <ip-pii>", "multicast 224.0.0.251"),
        ("unspecified 0.0.0.0", "unspecified <ip-pii>", "unspecified 0.0.0.0"),
        ("broadcast 255.255.255.255", "broadcast <ip-pii>", "broadcast 255.255.255.255"),
        ("mixed 1.1.1.1 and 10.1.1.1", "mixed <ip-pii> and <ip-pii>", "mixed <ip-pii> and 10.1.1.1"),
        ("at end 93.184.216.34.", "at end <ip-pii>.", "at end <ip-pii>."),
        ("range 10.0.0.1-10.0.0.9", "range <ip-pii>-<ip-pii>", "range 10.0.0.1-10.0.0.9"),
        ("zeros 192.168.001.001", "zeros <ip-pii>", "zeros 192.168.001.001"),
        ("cidr 81.2.69.0/24", "cidr <ip-pii>/24", "cidr <ip-pii>/24"),
    ],
)
def test_ipv4(text, expected, expected_public_only):
    assert mask_pii(text)[0] == expected
    assert mask_pii(text, public_ip_only=True)[0] == expected_public_only


@pytest.mark.parametrize(
    "text, expected, expected_public_only",
    [
        ("full 2606:4700:0000:0000:0000:0000:0000:1111", "full <ip-pii>", "full <ip-pii>"),
        ("compressed 2606:4700::1111.", "compressed <ip-pii>.", "compressed <ip-pii>."),
        ("upper 2A00:1450:4001:81C::200E", "upper <ip-pii>", "upper <ip-pii>"),
        ("doc 2001:db8::8a2e:370:7334", "doc <ip-pii>", "doc 2001:db8::8a2e:370:7334"),
        ("loopback ::1 only", "loopback <ip-pii> only", "loopback ::1 only"),
        ("link-local fe80::1ff:fe23:890a%eth0", "link-local <ip-pii>", "link-local fe80::1ff:fe23:890a%eth0"),
        ("unique-local fd12:3456:789a:1::1", "unique-local <ip-pii>", "unique-local fd12:3456:789a:1::1"),
        ("multicast ff02::1:2", "multicast <ip-pii>", "multicast ff02::1:2"),
        ("mapped ::ffff:8.8.8.8", "mapped <ip-pii>", "mapped <ip-pii>"),
        ("mapped ::ffff:192.168.1.1", "mapped <ip-pii>", "mapped ::ffff:192.168.1.1"),
        ("nat64 64:ff9b::1.1.1.1", "nat64 <ip-pii>", "nat64 <ip-pii>"),
        ("embedded 2001:db8:1::192.0.2.1", "embedded <ip-pii>", "embedded 2001:db8:1::192.0.2.1"),
        ("url http://[2a00:1450::68]:80/", "url http://[<ip-pii>]:80/", "url http://[<ip-pii>]:80/"),
        ("ends a clause 2606:4700::1: then", "ends a clause <ip-pii>: then", "ends a clause <ip-pii>: then"),
    ],
)
def test_ipv6(text, expected, expected_public_only):
    assert mask_pii(text)[0] == expected
    assert mask_pii(text, public_ip_only=True)[0] == expected_public_only


@pytest.mark.parametrize("country, iban", sorted(IBANS.items()))
@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda iban: iban, id="compact"),
        pytest.param(grouped, id="groups-of-4"),
        pytest.param(lambda iban: iban.lower(), id="lowercase"),
        pytest.param(lambda iban: grouped(iban).lower(), id="lowercase-groups"),
        pytest.param(lambda iban: iban[:4] + " " + grouped(iban[4:], 3), id="groups-of-3"),
        pytest.param(lambda iban: iban[:2] + " " + iban[2:4] + " " + iban[4:], id="spaced-head"),
        pytest.param(lambda iban: grouped(iban).replace(" ", "\u00a0"), id="no-break-spaces"),
    ],
)
def test_ibans_in_any_grouping(country, iban, form):
    written = form(iban)
    assert iban_checksum_ok(iban) and len(iban) == IBAN_LENGTHS[country]
    text = f"Please transfer to {written}, thanks."
    assert mask_pii(text) == ("Please transfer to <iban-pii>, thanks.", {"email": 0, "ip": 0, "iban": 1})


@pytest.mark.parametrize(
    "text",
    [
        # wrong check digit (89 -> 88), in both forms
        "DE88370400440532013000",
        "DE88 3704 0044 0532 0130 00",
        "GB83WEST12345698765432",
        # valid mod-97 checksum but one digit too long / too short for the country
        "DE543704004405320130001",
        "DE54 3704 0044 0532 0130 001",
        "GB49WEST123456987654321",
        "CH800076201162385295",
        # a valid IBAN glued to more digits or letters
        "DE893704004405320130001",
        "DE89370400440532013000X",
        "xDE89370400440532013000",
        "DE89 3704 0044 0532 0130 0012",
        # a valid number followed by .digit is part of something else
        "DE89370400440532013000.5",
        # letters where the BBAN wants digits (checksum recomputed would still fail structure)
        "DE89 37O4 0044 0532 0130 00",
        # two spaces or a hyphen between groups
        "DE89  3704 0044 0532 0130 00",
        "DE89-3704-0044-0532-0130-00",
        # unknown country code
        "ZZ89370400440532013000",
        # lower-case country code separated from the check digits
        "de 89 370400440532013000",
    ],
)
def test_not_ibans(text):
    assert find_pii(f"ref {text} end") == []


@pytest.mark.parametrize(
    "text",
    [
        "ISBN 978-3-16-148410-0",
        "ISBN 978-0-306-40615-7",
        "978-0-306-40615-7",
        "see 10.1000/182",
        "doi:10.1038/nphys1170",
        "https://doi.org/10.1016/j.cell.2009.01.002",
        "release v2.4.1",
        "Python 3.11.4",
        "1.2.3.4.5",
        "1.3.6.1.4.1.311 (an OID)",
        "v1.2.3.4",
        "1.2.3.4-beta",
        "version 1.2.3.4",
        "Version: 10.0.0.1",
        "see section 4.2.1.3 and § 1.2.3.4",
        "(ver. 2.0.0.1)",
        "999.1.1.1",
        "1.2.3.256",
        "12:30:45",
        "at 12:30:45.123 UTC",
        "std::vector<int>",
        "std::string::npos",
        "Foo::Bar::baz()",
        "dead::beef",
        ":: alone",
        "00:1A:2B:3C:4D:5E",
        "ratio 3:2",
        "3.14159",
        "On 15 May 2023 at 10:30 about 45.6% of 1,200 people agreed.",
        "Call +41 44 123 45 67 or 044-123-4567",
    ],
)
def test_false_positives(text):
    assert find_pii(text) == []
    assert mask_pii(text) == (text, {"email": 0, "ip": 0, "iban": 0})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x@y.com 8.8.8.8 DE89370400440532013000", {"email": 1, "ip": 1, "iban": 1}),
        ("1.1.1.1, 2.2.2.2 and ::1", {"email": 0, "ip": 3, "iban": 0}),
        ("nothing", {"email": 0, "ip": 0, "iban": 0}),
    ],
)
def test_mask_counts(text, expected):
    assert mask_pii(text)[1] == expected


@pytest.mark.parametrize(
    "country, length",
    [
        ("AT", 20),
        ("BE", 16),
        ("BG", 22),
        ("CH", 21),
        ("CY", 28),
        ("CZ", 24),
        ("DE", 22),
        ("DK", 18),
        ("EE", 20),
        ("ES", 24),
        ("FI", 18),
        ("FR", 27),
        ("GB", 22),
        ("GR", 27),
        ("HR", 21),
        ("HU", 28),
        ("IE", 22),
        ("IS", 26),
        ("IT", 27),
        ("LI", 21),
        ("LT", 20),
        ("LU", 20),
        ("LV", 21),
        ("MC", 27),
        ("MT", 31),
        ("NL", 18),
        ("NO", 15),
        ("PL", 28),
        ("PT", 25),
        ("RO", 24),
        ("SE", 24),
        ("SI", 19),
        ("SK", 24),
        ("SM", 27),
        ("VA", 22),
    ],
)
def test_iban_lengths_of_sepa_countries(country, length):
    assert IBAN_LENGTHS[country] == length


@pytest.mark.parametrize(
    "text, expected",
    [
        # glued runs are rejected whole, not unpicked from the end
        ("1.2.3.4.5.6.7.8", []),
        ("2001:db8::.2001:db8::.2001:db8::", []),
        ("fe80::1.fe80::1", []),
        # an IPv6 ending a sentence with no space after the full stop
        ("::1.The end", [(0, 3, "ip")]),
        # each '@' gets its own local part; '::1' is an address once the email is masked
        ("a@b.co1.2.3.4a@b.co::1", [(2, 19, "email"), (19, 22, "ip")]),
    ],
)
def test_glued_candidates(text, expected):
    assert find_pii(text) == [PiiSpan(start, end, category) for start, end, category in expected]


def test_placeholders_are_boundaries():
    # '::1' is glued to the email's TLD; once the email is masked it stands alone
    text = "x@y.com::1"
    assert find_pii(text) == [PiiSpan(0, 7, "email"), PiiSpan(7, 10, "ip")]
    assert mask_pii(text)[0] == "<email-pii><ip-pii>"


def test_masker_step_sets_metadata_and_stats():
    docs = [
        Document(text="Mail a@b.org or c@d.org from 8.8.8.8", id="1"),
        Document(text="IBAN GB82 WEST 1234 5698 7654 32, host 10.0.0.1", id="2"),
        Document(text="Nothing to see.", id="3", metadata={"url": "https://example.com"}),
    ]
    step = PIIMasker()
    out = list(step.run(docs))
    assert [doc.text for doc in out] == [
        "Mail <email-pii> or <email-pii> from <ip-pii>",
        "IBAN <iban-pii>, host <ip-pii>",
        "Nothing to see.",
    ]
    assert [(d.metadata["pii_email"], d.metadata["pii_ip"], d.metadata["pii_iban"]) for d in out] == [
        (2, 1, 0),
        (0, 1, 1),
        (0, 0, 0),
    ]
    assert out[2].metadata["url"] == "https://example.com"
    assert step.stats["total"].total == 3
    assert [step.stats[f"pii_{category}"].total for category in ("email", "ip", "iban")] == [2, 2, 1]
    assert step.name == "🔒 PII masker" and step.type == "🔒 - PII"


def test_masker_step_public_only():
    step = PIIMasker(public_ip_only=True)
    (doc,) = step.run([Document(text="10.0.0.1 and 8.8.8.8", id="1")])
    assert doc.text == "10.0.0.1 and <ip-pii>"
    assert doc.metadata["pii_ip"] == 1


# Fragments that sit near every boundary the recognizers check, glued together at random.
FRAGMENTS = [
    "a@b.co",
    "x.y@z.org",
    "@",
    ".",
    ":",
    "::",
    "-",
    "+",
    "%",
    "_",
    " ",
    "\n",
    "<",
    ">",
    "v",
    "§",
    "1",
    "12",
    "255",
    "1.2.3.4",
    "10.0.0.1",
    "8.8.8.8",
    "::1",
    "fe80::1",
    "2001:db8::",
    "ffff:",
    "DE89370400440532013000",
    "DE89 3704 0044 0532 0130 00",
    "gb82west12345698765432",
    "DE",
    "89",
    "version ",
    "section",
    "<email-pii>",
    "<ip-pii>",
    "<iban-pii>",
    "com",
    "xn--",
    "é",
]
pii_like_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet="ab09.:@- %", max_size=3)), max_size=16
).map("".join)


@settings(max_examples=400, deadline=None)
@given(pii_like_text, st.booleans())
def test_masking_is_idempotent(text, public_only):
    masked, _ = mask_pii(text, public_only)
    assert mask_pii(masked, public_only) == (masked, {"email": 0, "ip": 0, "iban": 0})


@settings(max_examples=400, deadline=None)
@given(pii_like_text, st.booleans())
def test_spans_are_sorted_disjoint_and_counted(text, public_only):
    spans = find_pii(text, public_only)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    counts = mask_pii(text, public_only)[1]
    assert sum(counts.values()) == len(spans)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="@0123456789")))
def test_no_placeholder_without_pii_characters(text):
    # every pattern needs an '@' or an ASCII digit
    assert mask_pii(text) == (text, {"email": 0, "ip": 0, "iban": 0})
