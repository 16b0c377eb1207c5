"""Deletion-list releases: building, signing, verifying, loading, diffing.

Every way a release can be unusable (tampered, truncated, another key, another format, a file
missing, a key that cannot be read) must end in a ``ReleaseError`` whose message says what is
wrong; a release built twice from the same inputs is byte-identical.
"""

import hashlib
import json
import os
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apertus_compliance.filters import (
    CATEGORIES,
    DeletionList,
    ReleaseError,
    build_release,
    diff_releases,
    generate_keypair,
    verify_release,
)

CREATED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REQUESTS = (
    "value,category,region\n"
    "Hans Müller,name,\n"
    "Erika Mustermann,name,\n"
    "anna.muster@beispiel.de,email,\n"
    "044 668 18 00,phone,CH\n"
    "Bahnhofstrasse 1 8001 Zürich,address,\n"
    "ABC-123-XYZ,other,\n"
)
# long enough not to turn up by chance in hex strings (key, signature) or random payload bytes
PLAINTEXT = (
    "Müller",
    "Mustermann",
    "anna.muster",
    "beispiel",
    "0446681800",
    "41446681800",
    "Bahnhofstrasse",
    "Zürich",
    "ABC-123-XYZ",
)
MANIFEST_KEYS = {
    "format",
    "format_version",
    "list_version",
    "created",
    "normalization_version",
    "hash",
    "counts",
    "entries",
    "prefixes",
    "max_tokens",
    "payload_sha256",
    "signature",
}


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return generate_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory):
    return generate_keypair(tmp_path_factory.mktemp("other-keys"))


@pytest.fixture(scope="module")
def requests_csv(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("requests") / "requests.csv", REQUESTS)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, keys, requests_csv):
    """A release built once per module; tests that damage it work on a copy."""
    out = tmp_path_factory.mktemp("pristine") / "release"
    manifest = build_release(requests_csv, keys[0], out, "2025-03", created=CREATED)
    return out, manifest


@pytest.fixture
def release(tmp_path, pristine):
    out = tmp_path / "release"
    shutil.copytree(pristine[0], out)
    return out


# --------------------------------------------------------------------------------------------
# keys


def test_generate_keypair_writes_pem_keys(tmp_path):
    private, public = generate_keypair(tmp_path / "k")
    assert private == tmp_path / "k" / "private.key" and public == tmp_path / "k" / "public.key"
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    if os.name == "posix":
        assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_generate_keypair_refuses_to_overwrite_a_signing_key(tmp_path):
    private, _ = generate_keypair(tmp_path)
    before = private.read_bytes()
    with pytest.raises(ReleaseError, match="private.key"):
        generate_keypair(tmp_path)
    assert private.read_bytes() == before


# --------------------------------------------------------------------------------------------
# the release format


def test_release_has_manifest_and_payload(pristine, keys):
    out, manifest = pristine
    assert sorted(path.name for path in out.iterdir()) == ["manifest.json", "payload.bin"]
    on_disk = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == manifest
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["format_version"] == 1
    assert manifest["list_version"] == "2025-03"
    assert datetime.fromisoformat(manifest["created"]) == CREATED
    assert isinstance(manifest["normalization_version"], int)
    assert {"algorithm", "key_id", "key"} <= set(manifest["hash"])
    assert manifest["counts"] == {"name": 2, "email": 1, "phone": 1, "address": 1, "other": 1}
    assert set(manifest["counts"]) == set(CATEGORIES) == {"name", "email", "phone", "address", "other"}
    payload = (out / "payload.bin").read_bytes()
    assert manifest["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    # 8-byte hash + 1 category byte per entry, 8 bytes per prefix hash
    assert len(payload) == manifest["entries"] * 9 + manifest["prefixes"] * 8
    # variants (diacritics, transliteration, phone formats) make more entries than requests
    assert manifest["entries"] >= sum(manifest["counts"].values())
    assert manifest["max_tokens"] == 4  # "anna muster beispiel de", "bahnhofstrasse 1 8001 zürich"
    assert manifest["prefixes"] > 0


def test_release_holds_no_plaintext(pristine):
    out, _ = pristine
    for name in ("manifest.json", "payload.bin"):
        data = (out / name).read_bytes()
        for value in PLAINTEXT:
            for form in (value, value.lower(), value.upper()):
                assert form.encode() not in data, f"{form!r} in {name}"


def test_verify_and_load_a_good_release(pristine, keys):
    out, manifest = pristine
    verified, payload = verify_release(out, keys[1])
    assert verified == manifest
    assert payload == (out / "payload.bin").read_bytes()
    listed = DeletionList.load(out, keys[1])
    assert listed.version == "2025-03"
    assert listed.created == CREATED
    assert listed.max_tokens == manifest["max_tokens"]
    assert listed.has_phones
    assert len(listed.hashes) == manifest["entries"] and len(listed.prefixes) == manifest["prefixes"]
    assert list(listed.hashes) == sorted(listed.hashes)
    assert list(listed.prefixes) == sorted(listed.prefixes)
    assert set(listed.categories.tolist()) == set(range(len(CATEGORIES)))


def test_build_is_deterministic(tmp_path, keys, requests_csv):
    first = build_release(requests_csv, keys[0], tmp_path / "a", "2025-03", created=CREATED)
    second = build_release(requests_csv, keys[0], tmp_path / "b", "2025-03", created=CREATED)
    assert first == second
    for name in ("manifest.json", "payload.bin"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_build_depends_on_version_and_created(tmp_path, keys, requests_csv):
    base = build_release(requests_csv, keys[0], tmp_path / "a", "2025-03", created=CREATED)
    other_version = build_release(requests_csv, keys[0], tmp_path / "b", "2025-04", created=CREATED)
    later = build_release(requests_csv, keys[0], tmp_path / "c", "2025-03", created=CREATED.replace(hour=13))
    # the hash key is derived per list version: hashes of one release say nothing about another's
    assert base["hash"]["key"] != other_version["hash"]["key"]
    assert base["payload_sha256"] != other_version["payload_sha256"]
    assert later["payload_sha256"] == base["payload_sha256"] and later["signature"] != base["signature"]


# --------------------------------------------------------------------------------------------
# refusing to build


def test_build_refuses_an_empty_csv(tmp_path, keys):
    empty = write_csv(tmp_path / "empty.csv", "")
    with pytest.raises(ReleaseError, match="empty.csv"):
        build_release(empty, keys[0], tmp_path / "out", "v1", created=CREATED)
    header_only = write_csv(tmp_path / "header.csv", "value,category,region\n")
    with pytest.raises(ReleaseError, match="header.csv: no requests"):
        build_release(header_only, keys[0], tmp_path / "out", "v1", created=CREATED)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_build_refuses_a_bad_category_naming_file_and_line(tmp_path, keys):
    bad = write_csv(tmp_path / "bad.csv", "value,category\nHans Müller,name\nJohn Doe,celebrity\n")
    with pytest.raises(ReleaseError) as error:
        build_release(bad, keys[0], tmp_path / "out", "v1", created=CREATED)
    assert f"{bad}:3:" in str(error.value)
    assert "celebrity" in str(error.value)
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.parametrize("value", ["", "   "])
def test_build_refuses_an_empty_value_naming_file_and_line(tmp_path, keys, value):
    bad = write_csv(tmp_path / "bad.csv", f"value,category\nHans Müller,name\n{value},email\n")
    with pytest.raises(ReleaseError) as error:
        build_release(bad, keys[0], tmp_path / "out", "v1", created=CREATED)
    assert f"{bad}:3:" in str(error.value) and "empty value" in str(error.value)


@pytest.mark.parametrize("value", ["---", "@.", "+"])
def test_build_refuses_a_value_without_any_word_or_digit(tmp_path, keys, value):
    bad = write_csv(tmp_path / "bad.csv", f"value,category\nHans Müller,name\n{value},other\n")
    with pytest.raises(ReleaseError, match="bad.csv"):
        build_release(bad, keys[0], tmp_path / "out", "v1", created=CREATED)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_build_refuses_a_csv_without_the_columns(tmp_path, keys):
    bad = write_csv(tmp_path / "bad.csv", "name,kind\nHans Müller,name\n")
    with pytest.raises(ReleaseError, match="value,category"):
        build_release(bad, keys[0], tmp_path / "out", "v1", created=CREATED)


def test_build_refuses_an_unreadable_private_key(tmp_path, requests_csv, keys):
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"not a key")
    with pytest.raises(ReleaseError, match="garbage.key"):
        build_release(requests_csv, garbage, tmp_path / "out", "v1", created=CREATED)
    with pytest.raises(ReleaseError, match="private key"):  # the public half cannot sign
        build_release(requests_csv, keys[1], tmp_path / "out", "v1", created=CREATED)


def test_csv_categories_are_case_insensitive_and_region_optional(tmp_path, keys):
    requests = write_csv(tmp_path / "r.csv", "value,category\nHans Müller,Name\n+41 44 668 18 00,PHONE\n")
    manifest = build_release(requests, keys[0], tmp_path / "out", "v1", created=CREATED)
    assert manifest["counts"]["name"] == 1 and manifest["counts"]["phone"] == 1


# --------------------------------------------------------------------------------------------
# refusing to verify or load: every failure is a ReleaseError with a message that says why


def _flip_payload_byte(release: Path) -> None:
    data = bytearray((release / "payload.bin").read_bytes())
    data[len(data) // 2] ^= 0x01
    (release / "payload.bin").write_bytes(bytes(data))


def _change_a_count(release: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    manifest["counts"]["name"] += 1
    (release / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _change_the_hash_key(release: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    manifest["hash"]["key"] = "00" * 32
    (release / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _truncate_payload(release: Path) -> None:
    data = (release / "payload.bin").read_bytes()
    (release / "payload.bin").write_bytes(data[: len(data) - 5])


def _empty_payload(release: Path) -> None:
    (release / "payload.bin").write_bytes(b"")


def _other_format_version(release: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 2
    (release / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _other_format(release: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    manifest["format"] = "something/else"
    (release / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _manifest_not_json(release: Path) -> None:
    (release / "manifest.json").write_text("{not json")


def _manifest_not_an_object(release: Path) -> None:
    (release / "manifest.json").write_text("[1, 2, 3]")


def _strip_signature(release: Path) -> None:
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    del manifest["signature"]
    (release / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def _remove(name: str):
    def remove(release: Path) -> None:
        (release / name).unlink()

    return remove


DAMAGE = {
    "tampered payload": (_flip_payload_byte, r"payload\.bin.*(sha256|tamper)"),
    "tampered manifest count": (_change_a_count, r"signature"),
    "tampered hash key": (_change_the_hash_key, r"signature"),
    "truncated payload": (_truncate_payload, r"payload\.bin.*(bytes|truncat)"),
    "empty payload": (_empty_payload, r"payload\.bin"),
    "other format_version": (_other_format_version, r"format version 2"),
    "other format": (_other_format, r"not a deletion-list release"),
    "manifest not json": (_manifest_not_json, r"manifest\.json"),
    "manifest not an object": (_manifest_not_an_object, r"not a deletion-list release|manifest"),
    "signature missing": (_strip_signature, r"signature"),
    "payload missing": (_remove("payload.bin"), r"payload\.bin is missing"),
    "manifest missing": (_remove("manifest.json"), r"manifest\.json is missing"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
@pytest.mark.parametrize("reader", ["verify_release", "DeletionList.load"])
def test_a_damaged_release_is_refused_with_a_clear_message(release, keys, damage, reader):
    damage_it, message = DAMAGE[damage]
    damage_it(release)
    read = verify_release if reader == "verify_release" else DeletionList.load
    with pytest.raises(ReleaseError, match=message) as error:
        read(release, keys[1])
    assert str(release) in str(error.value)


@pytest.mark.parametrize("reader", [verify_release, DeletionList.load], ids=["verify_release", "DeletionList.load"])
def test_a_release_is_refused_with_another_public_key(release, other_keys, reader):
    with pytest.raises(ReleaseError, match="signature") as error:
        reader(release, other_keys[1])
    assert "another key" in str(error.value) or "tampered" in str(error.value)


def test_a_missing_release_folder_is_refused(tmp_path, keys):
    with pytest.raises(ReleaseError, match="missing"):
        DeletionList.load(tmp_path / "nowhere", keys[1])


def _rsa_public_key(path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_KEYS = {
    "missing file": lambda tmp, keys: tmp / "no-such.key",
    "garbage": lambda tmp, keys: _written(tmp / "garbage.key", b"\x00\xffnot pem"),
    "empty file": lambda tmp, keys: _written(tmp / "empty.key", b""),
    "a directory": lambda tmp, keys: tmp,
    "the private key": lambda tmp, keys: keys[0],
    "an rsa key": lambda tmp, keys: _rsa_public_key(tmp / "rsa.key"),
}


@pytest.mark.parametrize("bad", BAD_KEYS, ids=list(BAD_KEYS))
@pytest.mark.parametrize("reader", [verify_release, DeletionList.load], ids=["verify_release", "DeletionList.load"])
def test_an_unreadable_public_key_is_refused_with_a_clear_message(release, tmp_path, keys, bad, reader):
    key_dir = tmp_path / "keydir"
    key_dir.mkdir()
    path = BAD_KEYS[bad](key_dir, keys)
    with pytest.raises(ReleaseError) as error:
        reader(release, path)
    assert str(path) in str(error.value) and "key" in str(error.value)


def test_release_error_is_a_value_error():
    assert issubclass(ReleaseError, ValueError)


# --------------------------------------------------------------------------------------------
# diffing


def test_diff_releases_gives_counts_only(tmp_path, keys, pristine):
    _, old = pristine
    newer = write_csv(tmp_path / "newer.csv", REQUESTS + "Max Muster,name,\nmax@beispiel.de,email,\n")
    new = build_release(newer, keys[0], tmp_path / "new", "2025-04", created=CREATED.replace(month=4))
    diff = diff_releases(old, new)
    assert diff["counts"] == {"name": 1, "email": 1, "phone": 0, "address": 0, "other": 0}
    assert diff["entries"] == new["entries"] - old["entries"] > 0
    assert diff["list_version"] == ["2025-03", "2025-04"]
    assert diff["same_hash_key"] is False
    text = json.dumps(diff)
    for secret in (
        old["hash"]["key"],
        new["hash"]["key"],
        old["payload_sha256"],
        new["payload_sha256"],
        old["signature"],
        new["signature"],
    ):
        assert secret not in text
    for value in PLAINTEXT + ("Max", "max@"):
        assert value not in text


def test_diff_of_a_release_with_itself_is_zero(pristine):
    _, manifest = pristine
    diff = diff_releases(manifest, manifest)
    assert diff["counts"] == dict.fromkeys(CATEGORIES, 0)
    assert diff["entries"] == 0 and diff["same_hash_key"] is True


def test_diff_of_manifests_read_from_disk(tmp_path, keys, pristine):
    out, _ = pristine
    smaller = write_csv(tmp_path / "smaller.csv", "value,category\nHans Müller,name\n")
    build_release(smaller, keys[0], tmp_path / "small", "2025-05", created=CREATED)
    old = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    new = json.loads((tmp_path / "small" / "manifest.json").read_text(encoding="utf-8"))
    assert diff_releases(old, new)["counts"] == {"name": -1, "email": -1, "phone": -1, "address": -1, "other": -1}


# --------------------------------------------------------------------------------------------
# signed but malformed: a signature says who wrote a manifest, not that it is usable. Each variant
# is re-signed with the publisher's own key, so only the validation can catch it.


def _resign(release: Path, private_key: Path, manifest: dict, payload: bytes | None = None) -> None:
    from cryptography.hazmat.primitives import serialization

    if payload is not None:
        (release / "payload.bin").write_bytes(payload)
        manifest["payload_sha256"] = hashlib.sha256(payload).hexdigest()
    signer = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    unsigned = {key: value for key, value in manifest.items() if key != "signature"}
    manifest["signature"] = signer.sign(json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()).hex()
    (release / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")


def _field(path: str, value):
    """Set ``path`` (``a.b`` for nested fields) to ``value``; ``...`` deletes it."""

    def change(manifest: dict, payload: bytearray) -> None:
        *parents, last = path.split(".")
        target = manifest
        for parent in parents:
            target = target[parent]
        if value is ...:
            del target[last]
        else:
            target[last] = value

    return change


def _swap_first_hashes(manifest: dict, payload: bytearray) -> None:
    payload[0:8], payload[8:16] = payload[8:16], payload[0:8]


def _duplicate_first_hash(manifest: dict, payload: bytearray) -> None:
    payload[8:16] = payload[0:8]


def _category_byte(value: int):
    def change(manifest: dict, payload: bytearray) -> None:
        payload[manifest["entries"] * 8] = value

    return change


def _unsorted_prefixes(manifest: dict, payload: bytearray) -> None:
    start = manifest["entries"] * 9
    payload[start : start + 8], payload[start + 8 : start + 16] = (
        payload[start + 8 : start + 16],
        payload[start : start + 8],
    )


def _no_phone_count(manifest: dict, payload: bytearray) -> None:
    manifest["counts"]["phone"] = 0


def _phone_count_without_phones(manifest: dict, payload: bytearray) -> None:
    entries = manifest["entries"]
    for index in range(entries * 8, entries * 9):
        if payload[index] == CATEGORIES.index("phone"):
            payload[index] = CATEGORIES.index("other")


def _replace_the_hash_key(manifest: dict, payload: bytearray) -> None:
    key = bytes(range(32))
    manifest["hash"] = {**manifest["hash"], "key": key.hex(), "key_id": hashlib.sha256(key).hexdigest()[:16]}


MALFORMED = {
    # field: (change, text the message must contain)
    "created without a time zone": (_field("created", "2025-03-01T12:00:00"), "'created'"),
    "created in 2099": (_field("created", "2099-01-01T00:00:00+00:00"), "'created'"),
    "created not a date": (_field("created", "yesterday"), "'created'"),
    "created a number": (_field("created", 1735732800), "'created'"),
    "counts missing": (_field("counts", ...), "'counts'"),
    "counts with an unknown category": (_field("counts.celebrity", 1), "'counts'"),
    "counts without a category": (_field("counts.other", ...), "'counts'"),
    "counts negative": (_field("counts.name", -1), "'counts.name'"),
    "counts a bool": (_field("counts.name", True), "'counts.name'"),
    "counts a string": (_field("counts.name", "2"), "'counts.name'"),
    "hash key not hex": (_field("hash.key", "zz" * 32), "'hash.key'"),
    "hash key too short": (_field("hash.key", "ab" * 16), "'hash.key'"),
    "hash key_id not of the key": (_field("hash.key_id", "0" * 16), "'hash.key_id'"),
    "hash algorithm unknown": (_field("hash.algorithm", "md5"), "'hash.algorithm'"),
    "hash with an extra field": (_field("hash.salt", "00"), "'hash'"),
    "max_tokens 0": (_field("max_tokens", 0), "'max_tokens'"),
    "max_tokens 33": (_field("max_tokens", 33), "'max_tokens'"),
    "max_tokens a bool": (_field("max_tokens", True), "'max_tokens'"),
    "max_tokens a float": (_field("max_tokens", 4.0), "'max_tokens'"),
    "entries negative": (_field("entries", -1), "'entries'"),
    "entries not an int": (_field("entries", "12"), "'entries'"),
    "entries a bool": (_field("entries", True), "'entries'"),
    "entries zero": (_field("entries", 0), "'entries'"),
    "prefixes negative": (_field("prefixes", -3), "'prefixes'"),
    "prefixes not an int": (_field("prefixes", 1.5), "'prefixes'"),
    "prefixes null": (_field("prefixes", None), "'prefixes'"),
    "format_version a bool": (_field("format_version", True), "format version"),
    "normalization_version unknown": (_field("normalization_version", 99), "'normalization_version'"),
    "normalization_version a bool": (_field("normalization_version", True), "'normalization_version'"),
    "list_version empty": (_field("list_version", ""), "'list_version'"),
    "list_version with a newline": (_field("list_version", "2025\r\nx-evil: 1"), "'list_version'"),
    "list_version too long": (_field("list_version", "v" * 129), "'list_version'"),
    "list_version a number": (_field("list_version", 2025), "'list_version'"),
    "payload_sha256 missing": (_field("payload_sha256", ...), "'payload_sha256'"),
    "signing_key_id of another key": (_field("signing_key_id", "0123456789abcdef"), "'signing_key_id'"),
    "signature_algorithm other": (_field("signature_algorithm", "rsa"), "'signature_algorithm'"),
    "an unknown field": (_field("comment", "hello"), "'comment'"),
    "self_test not a canary": (_field("self_test", "Hans Müller"), "'self_test'"),
    "self_test not listed (key replaced)": (_replace_the_hash_key, "'self_test'"),
    "unsorted hashes": (_swap_first_hashes, "entry hashes"),
    "duplicate hashes": (_duplicate_first_hash, "entry hashes"),
    "unsorted prefixes": (_unsorted_prefixes, "prefix hashes"),
    "category byte 9": (_category_byte(9), "category byte 9"),
    "category byte 5": (_category_byte(5), "category byte 5"),
    "phone entries but counts.phone 0": (_no_phone_count, "counts.phone"),
    "counts.phone without phone entries": (_phone_count_without_phones, "counts.phone"),
}


@pytest.mark.parametrize("variant", MALFORMED, ids=list(MALFORMED))
@pytest.mark.parametrize("reader", ["verify_release", "DeletionList.load"])
def test_a_signed_but_malformed_release_is_refused_naming_the_field(release, keys, variant, reader):
    change, field = MALFORMED[variant]
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    original = (release / "payload.bin").read_bytes()
    payload = bytearray(original)
    change(manifest, payload)
    _resign(release, keys[0], manifest, bytes(payload) if payload != original else None)
    read = verify_release if reader == "verify_release" else DeletionList.load
    with pytest.raises(ReleaseError) as error:
        read(release, keys[1])
    message = str(error.value)
    assert str(release) in message and field in message, message
    assert "does not verify" not in message  # it was validation that refused it, not the signature


def test_resigning_an_unchanged_manifest_still_verifies(release, keys):
    """The malformed table's control: re-signing alone breaks nothing."""
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    _resign(release, keys[0], manifest)
    assert verify_release(release, keys[1])[0] == manifest


@pytest.mark.parametrize(("minutes", "accepted"), [(60, True), (-9, True), (-11, False), (-24 * 60, False)])
def test_created_may_lie_only_a_little_in_the_future(pristine, keys, minutes, accepted):
    from datetime import timedelta

    out, manifest = pristine
    now = CREATED + timedelta(minutes=minutes)  # negative: the reader's clock is behind the release
    if accepted:
        assert verify_release(out, keys[1], now=now)[0] == manifest
        assert DeletionList.load(out, keys[1], now=now).version == "2025-03"
    else:
        with pytest.raises(ReleaseError, match="'created'.*in the future"):
            DeletionList.load(out, keys[1], now=now)


# --------------------------------------------------------------------------------------------
# the self-test canary


def test_every_release_carries_a_canary_that_is_listed_but_not_counted(pristine, keys, tmp_path, requests_csv):
    import re

    from apertus_compliance.filters import Redactor

    out, manifest = pristine
    canary = manifest["self_test"]
    assert re.fullmatch(r"canary[0-9a-f]{24}", canary)
    listed = DeletionList.load(out, keys[1])
    assert listed.canary == canary
    assert Redactor(listed).redact_with_counts(f"x {canary} y") == ("x [REDACTED] y", {"other": 1})
    assert manifest["counts"]["other"] == 1  # ABC-123-XYZ only: the canary is not a request
    assert listed.self_test() is True
    # derived from the hash key: a rebuild is byte-identical, another version has another canary
    again = build_release(requests_csv, keys[0], tmp_path / "again", "2025-03", created=CREATED)
    other = build_release(requests_csv, keys[0], tmp_path / "other", "2025-04", created=CREATED)
    assert again["self_test"] == canary != other["self_test"]


def test_the_self_test_fails_when_the_canary_is_not_redacted(pristine, keys):
    from dataclasses import replace

    listed = DeletionList.load(pristine[0], keys[1])
    other_key = bytes(range(32))
    broken = replace(listed, manifest={**listed.manifest, "hash": {**listed.manifest["hash"], "key": other_key.hex()}})
    assert broken.self_test() is False
    with pytest.raises(ReleaseError, match="self_test.*not redacted"):
        broken.verify_self_test()


def test_a_release_without_a_canary_stays_readable_and_runs_the_probe(release, keys):
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    del manifest["self_test"]
    _resign(release, keys[0], manifest)
    listed = DeletionList.load(release, keys[1])
    assert listed.canary is None
    assert listed.self_test() is True


def test_the_bulk_path_inserts_the_canary_in_order(tmp_path, keys):
    from collections import Counter

    import numpy as np

    from apertus_compliance.filters.deletion_list import (
        _finalize,
        release_hash_key,
        sorted_unique,
        token_hashes,
        write_release,
    )

    key = release_hash_key(keys[0], "bulk")
    firsts = token_hashes([f"first{index}" for index in range(50)], key)
    lasts = token_hashes([f"last{index}" for index in range(40)], key)
    with np.errstate(over="ignore"):
        pairs = (firsts[:, None] * np.uint64(0x9E3779B97F4A7C15) + lasts[None, :]).ravel()
    hashes = sorted_unique(_finalize(pairs, 2))
    manifest = write_release(
        tmp_path / "bulk",
        keys[0],
        "bulk",
        key,
        hashes,
        np.zeros(len(hashes), dtype=np.uint8),
        _finalize(firsts, 1),
        Counter({"name": len(hashes)}),
        longest=2,
        created=CREATED,
    )
    assert manifest["entries"] == len(hashes) + 1
    listed = DeletionList.load(tmp_path / "bulk", keys[1])
    assert np.all(listed.hashes[1:] > listed.hashes[:-1])
    assert int((listed.categories == CATEGORIES.index("other")).sum()) == 1
    assert listed.self_test() is True


# --------------------------------------------------------------------------------------------
# entry length: the redactor hashes every window of up to max_tokens tokens, so it is bounded


def test_build_refuses_an_entry_longer_than_the_limit_naming_the_line(tmp_path, keys):
    from apertus_compliance.filters.deletion_list import MAX_ENTRY_TOKENS

    words = " ".join(f"wort{index}" for index in range(1000))
    bad = write_csv(tmp_path / "long.csv", f'value,category\nHans Müller,name\n"{words}",other\n')
    with pytest.raises(ReleaseError) as error:
        build_release(bad, keys[0], tmp_path / "out", "v1", created=CREATED)
    message = str(error.value)
    assert f"{bad}:3:" in message and "1000 tokens" in message and str(MAX_ENTRY_TOKENS) in message
    assert "wort1" not in message  # the error names the line, not the (private) value
    assert not (tmp_path / "out").exists()

    longest = " ".join(f"wort{index}" for index in range(MAX_ENTRY_TOKENS))
    fits = write_csv(tmp_path / "fits.csv", f'value,category\n"{longest}",other\n')
    assert build_release(fits, keys[0], tmp_path / "fits", "v1", created=CREATED)["max_tokens"] == MAX_ENTRY_TOKENS


@pytest.mark.parametrize("longest", [0, 33, 1000])
def test_write_release_refuses_max_tokens_out_of_bounds(tmp_path, keys, longest):
    from collections import Counter

    import numpy as np

    from apertus_compliance.filters.deletion_list import release_hash_key, write_release

    with pytest.raises(ReleaseError, match=f"{longest} tokens"):
        write_release(
            tmp_path / "out",
            keys[0],
            "v1",
            release_hash_key(keys[0], "v1"),
            np.array([1, 2], dtype=np.uint64),
            np.zeros(2, dtype=np.uint8),
            np.array([], dtype=np.uint64),
            Counter({"name": 2}),
            longest=longest,
            created=CREATED,
        )
    assert not (tmp_path / "out").exists()


def test_write_release_refuses_unsorted_hashes(tmp_path, keys):
    from collections import Counter

    import numpy as np

    from apertus_compliance.filters.deletion_list import release_hash_key, write_release

    with pytest.raises(ReleaseError, match="entry hashes must be strictly increasing"):
        write_release(
            tmp_path / "out",
            keys[0],
            "v1",
            release_hash_key(keys[0], "v1"),
            np.array([5, 3], dtype=np.uint64),
            np.zeros(2, dtype=np.uint8),
            np.array([], dtype=np.uint64),
            Counter({"name": 2}),
            longest=1,
            created=CREATED,
        )
    assert not (tmp_path / "out" / "manifest.json").exists()
