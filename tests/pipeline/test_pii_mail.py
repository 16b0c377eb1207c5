"""PII in real mail: archive-written addresses (``user at host``) and IPv6 look-alikes in code.

Tables of (text, expected) in presidio's test style, then the pipermail message of the web
fixtures (tests/data/web/pages/pipermail-message.html) read as the rebuild reads it.
"""

import io
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from apertus_compliance.pipeline.pii import find_pii, mask_pii
from apertus_compliance.pipeline.web import read_record

WEB = Path(__file__).resolve().parents[1] / "data" / "web"


@pytest.mark.parametrize(
    "text, expected",
    [
        # pipermail's header line and quoted addresses
        ("Maria Lopez maria.lopez at example.net", "Maria Lopez <email-pii>"),
        ("Maria Lopez <mlopez at example.net>", "Maria Lopez <<email-pii>>"),
        ("From: jdoe at example.org", "From: <email-pii>"),
        ("> Cc: Bob <bob at lists.example.org>", "> Cc: Bob <<email-pii>>"),
        ("jakob_meyer at example.org wrote:", "<email-pii> wrote:"),
        ("j.meyer+lists at example.org", "<email-pii>"),
        # the address wrapped onto the next line, as in quoted mail
        ("send them to maria.lopez\nat example.net, or", "send them to <email-pii>, or"),
        # bracketed forms are never prose
        ("bob (at) example.com", "<email-pii>"),
        ("bob[at]example.com", "<email-pii>"),
        ("BOB {AT} EXAMPLE.COM", "<email-pii>"),
        # punycode TLD
        ("info.desk at example.xn--p1ai", "<email-pii>"),
    ],
)
def test_archived_addresses_are_masked_as_emails(text, expected):
    assert mask_pii(text)[0] == expected
    assert mask_pii(expected)[0] == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "Have a look at python.org for the docs.",
        "look at docs.python.org",
        "We met at home.It was late.",  # a missing space after a full stop
        "jdoe at example.org",  # a plain word before " at ": reads like prose, left alone
        "Lunch at 12.30 at the hall",
        "arrive at the station at noon",
        "the cat sat at example.org",
        "Meet at (at) the corner",  # no domain after it
        "format: name at host",  # no dot in the host
    ],
)
def test_prose_with_at_is_left_alone(text):
    assert find_pii(text) == []


@pytest.mark.parametrize(
    "text, expected, expected_public_only",
    [
        # code: slices, scopes, the unspecified address
        ("first, rest = addrs[0], addrs[1::2]", None, None),
        ("x[:, ::10] and y[1::]", None, None),
        ("std::vector<addr> net::Endpoint", None, None),
        ("the default of ::0 for the wildcard bind", None, None),
        ("listen = 0:0:0:0:0:0:0:0", None, None),
        ("use Foo::Bar; impl Baz for Qux", None, None),
        # real addresses stay addresses, in brackets and quotes too
        ("has ::1 and a global address", "has <ip-pii> and a global address", None),
        ('hosts["::1"] = "localhost"', 'hosts["<ip-pii>"] = "localhost"', None),
        ("http://[::1]:8080/", "http://[<ip-pii>]:8080/", None),
        ("peer [2606:4700::1111] up", "peer [<ip-pii>] up", "peer [<ip-pii>] up"),
        ("route 2001:db8:85a3::8a2e:370:7334 via", "route <ip-pii> via", None),
        ("table[2606:4700::1111]", "table[<ip-pii>]", "table[<ip-pii>]"),  # three groups: no slice
    ],
)
def test_ipv6_in_code_and_config(text, expected, expected_public_only):
    assert mask_pii(text)[0] == (expected or text)
    assert mask_pii(text, public_ip_only=True)[0] == (expected_public_only or text)


@pytest.fixture(scope="module")
def pipermail_text() -> str:
    """The pipermail page as the rebuild reads it: gzip body, us-ascii label, main text extracted."""
    data = (WEB / "captures.warc.gz").read_bytes()
    for record in ArchiveIterator(io.BytesIO(data)):
        if record.rec_type == "response" and "pipermail" in record.rec_headers.get_header("WARC-Target-URI"):
            web = read_record(record)
            assert web.removal is None
            return web.text
    raise AssertionError("no pipermail record in captures.warc.gz")


def test_pipermail_message_is_masked(pipermail_text):
    masked, counts = mask_pii(pipermail_text)
    for address in ("maria.lopez at example.net", "jakob.meyer at example.org", "mlopez at example.net"):
        assert address.split(" at ")[0] in pipermail_text  # the fixture holds them...
    assert " at example." not in masked  # ...and none survives masking
    assert counts["email"] == 4  # header, Jakob, the wrapped one, the signature
    # the code in the message is untouched; ::1 and the documentation address are addresses
    assert "addrs[1::2]" in masked and "::0 for the wildcard" in masked and "std::vector" in masked
    assert counts["ip"] == 3  # 127.0.0.1, ::1, 2001:db8:85a3::8a2e:370:7334
    # prose "have a look at this?" and "Logs are at ci.example.org" are not addresses
    assert "have a look at" in masked and "Logs are at ci.example.org" in masked


def test_pipermail_message_public_ip_only(pipermail_text):
    masked, counts = mask_pii(pipermail_text, public_ip_only=True)
    assert counts == {"email": 4, "ip": 0, "iban": 0}  # loopbacks and 2001:db8::/32 are not public
    assert "::1" in masked and "127.0.0.1" in masked
