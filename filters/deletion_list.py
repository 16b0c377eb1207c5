"""Deletion-list releases: signed, hashed lists of values to redact (the format is in the README).

A release is a directory with ``manifest.json`` and ``payload.bin``. The payload holds sorted
64-bit keyed hashes of every listed token sequence (with a category byte each) and of their
proper prefixes (for streaming). The manifest carries counts, the hash key, the payload's
sha256 and an ed25519 signature over everything else. The deployer's public key is configured,
never read from the release.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from apertus_compliance.errors import ApertusError
from apertus_compliance.filters.normalize import (
    NORMALIZATION_VERSION,
    SUPPORTED_NORMALIZATION_VERSIONS,
    entry_sequences,
)

if TYPE_CHECKING:
    from apertus_compliance.filters.redactor import Redactor

FORMAT = "apertus-compliance/deletion-list"
FORMAT_VERSION = 1
HASH_ALGORITHM = "blake2b-64-keyed-tokens+poly64-splitmix-v1"
CATEGORIES = ("name", "email", "phone", "address", "other")
MAX_ENTRY_TOKENS = 32
"""The longest entry a release may hold, in tokens. A redactor hashes every window of up to
``max_tokens`` tokens, so memory and time per text grow with it: 32 keeps them linear and small."""
CLOCK_SKEW = timedelta(minutes=10)
"""How far in the future a release's ``created`` may lie (clocks differ); later is refused."""
MAX_LIST_VERSION_LENGTH = 128
SELF_TEST_PREFIX = "canary"
SELF_TEST_PROBE = "Self-test probe: Jane Example, jane@example.org, +41 44 000 00 00, 12 34."
"""Redacted through a list without a canary (releases before the canary): it must run without error."""
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_CANARY = re.compile(SELF_TEST_PREFIX + r"[0-9a-f]{24}")
_LIST_VERSION = re.compile(r"[!-~](?:[ -~]*[!-~])?")
"""Printable ASCII without leading or trailing spaces: it goes into HTTP headers, logs and file names."""


class ReleaseError(ApertusError, ValueError):
    """A release that cannot be used; the message names the file and what is wrong."""


# --------------------------------------------------------------------------------------------
# hashing: token hashes (keyed BLAKE2b) combined per window, vectorized with numpy


_TOKEN_CACHE: dict[bytes, dict[str, int]] = {}
TOKEN_CACHE_SIZE = 200_000
"""Words repeat: most tokens of a generation were hashed before. The cache is per hash key and
is dropped whole when full (simple, bounded: about 30 MB)."""


def token_hashes(tokens: list[str], key: bytes) -> np.ndarray:
    """Keyed BLAKE2b-64 of each normalized token."""
    cache = _TOKEN_CACHE.setdefault(key, {})
    if len(cache) > TOKEN_CACHE_SIZE:
        cache.clear()
    values = []
    for token in tokens:
        value = cache.get(token)
        if value is None:
            value = cache[token] = int.from_bytes(
                hashlib.blake2b(token.encode(), digest_size=8, key=key).digest(), "little"
            )
        values.append(value)
    return np.array(values, dtype=np.uint64)


def _finalize(values: np.ndarray, width: int) -> np.ndarray:
    """splitmix64 over the window value and its width: spreads the polynomial combination."""
    with np.errstate(over="ignore"):
        z = values ^ np.uint64(width * 0x632BE59BD9B4E019 & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def window_hashes(hashes: np.ndarray, longest: int) -> list[np.ndarray]:
    """For width w = 1..longest, the hash of every window of w tokens (index = first token)."""
    result, running = [], hashes.copy()
    with np.errstate(over="ignore"):
        for width in range(1, min(longest, len(hashes)) + 1):
            if width > 1:
                running = running[:-1] * _MULTIPLIER + hashes[width - 1 :]
            result.append(_finalize(running, width))
    return result


def sequence_hash(tokens: tuple[str, ...], key: bytes) -> int:
    return int(window_hashes(token_hashes(list(tokens), key), len(tokens))[-1][0])


# --------------------------------------------------------------------------------------------
# keys


def generate_keypair(out: str | Path) -> tuple[Path, Path]:
    """Write ``private.key`` (PKCS#8 PEM, mode 600) and ``public.key`` (SubjectPublicKeyInfo PEM)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / "private.key", out / "public.key"
    if private.exists():
        raise ReleaseError(f"{private} exists: refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def _load_key(path: str | Path, private: bool) -> Ed25519PrivateKey | Ed25519PublicKey:
    try:
        data = Path(path).read_bytes()
        key = (
            serialization.load_pem_private_key(data, password=None)
            if private
            else serialization.load_pem_public_key(data)
        )
    except (OSError, ValueError, TypeError) as error:
        raise ReleaseError(
            f"{path}: not a readable ed25519 {'private' if private else 'public'} key ({error})"
        ) from error
    if not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        raise ReleaseError(f"{path}: not an ed25519 key")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_id(path: str | Path) -> str:
    """``key_id`` of the ed25519 public key in a PEM file (ReleaseError when it is not one)."""
    return key_id(_load_key(path, private=False))


def _signed_bytes(manifest: dict) -> bytes:
    return json.dumps(
        {k: v for k, v in manifest.items() if k != "signature"}, sort_keys=True, separators=(",", ":")
    ).encode()


# --------------------------------------------------------------------------------------------
# building


def read_requests(path: str | Path) -> list[tuple[str, str, str | None]]:
    """``value,category[,region]`` rows; a bad row is an error naming its line."""
    return [(value, category, region) for _, value, category, region in read_request_lines(path)]


def read_request_lines(path: str | Path) -> list[tuple[int, str, str, str | None]]:
    """``read_requests`` with the CSV line of each row first, for errors found later."""
    rows = []
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"value", "category"} <= set(reader.fieldnames):
                raise ReleaseError(f"{path}: expected a header with columns value,category (got {reader.fieldnames})")
            for row in reader:
                line = reader.line_num
                value, category = (row.get("value") or "").strip(), (row.get("category") or "").strip().lower()
                if category not in CATEGORIES:
                    raise ReleaseError(f"{path}:{line}: category {category!r} is not one of {', '.join(CATEGORIES)}")
                if not value:
                    raise ReleaseError(f"{path}:{line}: empty value")
                rows.append((line, value, category, (row.get("region") or "").strip().upper() or None))
    except (OSError, UnicodeDecodeError) as error:
        raise ReleaseError(f"{path}: cannot read it ({error})") from error
    if not rows:
        raise ReleaseError(f"{path}: no requests (an empty list would filter nothing)")
    return rows


def release_hash_key(private_key: str | Path, list_version: str) -> bytes:
    """The release's hash key, derived from the signing key and the version: builds repeat
    byte for byte, and each version has its own key (old hashes say nothing about new lists)."""
    signer = _load_key(private_key, private=True)
    seed = signer.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return hashlib.blake2b(list_version.encode(), key=seed, digest_size=32, person=b"apertus-dl-v1").digest()


def build_release(
    requests: str | Path, private_key: str | Path, out: str | Path, list_version: str, created: datetime | None = None
) -> dict:
    """Hash, sign and write a release; the plaintext never leaves this function."""
    hash_key = release_hash_key(private_key, list_version)
    entries: dict[int, int] = {}
    prefixes: set[int] = set()
    counts: Counter[str] = Counter()
    longest = 1
    for line, value, category, region in read_request_lines(requests):
        sequences = entry_sequences(value, category, region)
        if not sequences:
            raise ReleaseError(f"{requests}:{line}: {category} entry without any word or digit")
        if max(len(tokens) for tokens in sequences) > MAX_ENTRY_TOKENS:
            raise ReleaseError(
                f"{requests}:{line}: {category} entry of {max(len(tokens) for tokens in sequences)} "
                f"tokens; a release allows at most {MAX_ENTRY_TOKENS} (words and digit groups): "
                "split it into shorter entries"
            )
        counts[category] += 1
        for tokens in sequences:
            longest = max(longest, len(tokens))
            hashes = window_hashes(token_hashes(list(tokens), hash_key), len(tokens))
            entries.setdefault(int(hashes[-1][0]), CATEGORIES.index(category))
            prefixes.update(int(hashes[width - 1][0]) for width in range(1, len(tokens)))
    order = np.array(sorted(entries), dtype=np.uint64)
    categories = np.array([entries[int(value)] for value in order], dtype=np.uint8)
    return write_release(
        out,
        private_key,
        list_version,
        hash_key,
        order,
        categories,
        np.fromiter(prefixes, dtype=np.uint64, count=len(prefixes)),
        counts,
        longest,
        created,
    )


def write_release(
    out: str | Path,
    private_key: str | Path,
    list_version: str,
    hash_key: bytes,
    hashes: np.ndarray,
    categories: np.ndarray,
    prefixes: np.ndarray,
    counts: Counter[str],
    longest: int,
    created: datetime | None = None,
) -> dict:
    """Write already-hashed entries (sorted, unique) as a signed release. ``build_release`` is
    the normal way in; bulk producers (the benchmark's 10M entries) hash with numpy and call this.

    Every release gets a canary (``self_test_canary``): one more single-token entry of category
    ``other``, not counted in ``counts``, whose plaintext the manifest carries so a loader can
    check that redaction through the list works. The release is checked as a reader would check
    it before anything is written: a builder never publishes what loaders refuse.
    """
    if not _is_int(longest) or not 1 <= longest <= MAX_ENTRY_TOKENS:
        raise ReleaseError(f"{out}: the longest entry has {longest} tokens; a release allows 1 to {MAX_ENTRY_TOKENS}")
    signer = _load_key(private_key, private=True)
    created = created or datetime.now(UTC).replace(microsecond=0)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    canary = self_test_canary(hash_key)
    hashes, categories = _with_canary(
        np.asarray(hashes, dtype=np.uint64),
        np.asarray(categories, dtype=np.uint8),
        np.uint64(sequence_hash((canary,), hash_key)),
    )
    prefixes = sorted_unique(prefixes)
    payload = hashes.astype("<u8").tobytes() + categories.astype("u1").tobytes() + prefixes.astype("<u8").tobytes()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "list_version": list_version,
        "created": created.isoformat(),
        "normalization_version": NORMALIZATION_VERSION,
        "hash": {
            "algorithm": HASH_ALGORITHM,
            "key_id": hashlib.sha256(hash_key).hexdigest()[:16],
            "key": hash_key.hex(),
        },
        "counts": {category: counts.get(category, 0) for category in CATEGORIES},
        "entries": len(hashes),
        "prefixes": len(prefixes),
        "max_tokens": longest,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "signature_algorithm": "ed25519",
        "signing_key_id": key_id(signer.public_key()),
        "self_test": canary,
    }
    out = Path(out)
    check_manifest({**manifest, "signature": ""}, f"{out}/manifest.json", signing_key_id=manifest["signing_key_id"])
    check_payload(manifest, payload, f"{out}/payload.bin")
    manifest["signature"] = signer.sign(_signed_bytes(manifest)).hex()
    out.mkdir(parents=True, exist_ok=True)
    (out / "payload.bin").write_bytes(payload)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def self_test_canary(hash_key: bytes) -> str:
    """``canary`` + 24 hex characters, derived from the release's hash key: unpredictable before the
    release exists, never personal data, and the same when a release is rebuilt (builds stay
    byte-identical). One ASCII token that every normalization version leaves as it is."""
    return (
        SELF_TEST_PREFIX
        + hashlib.blake2b(b"self-test", key=hash_key, digest_size=12, person=b"apertus-canary").hexdigest()
    )


def _with_canary(hashes: np.ndarray, categories: np.ndarray, canary: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """The sorted arrays with the canary's hash inserted in place (category ``other``)."""
    position = int(np.searchsorted(hashes, canary))
    if position < len(hashes) and hashes[position] == canary:  # already listed (2^-64): it is found all the same
        return hashes, categories
    return (np.insert(hashes, position, canary), np.insert(categories, position, np.uint8(CATEGORIES.index("other"))))


# --------------------------------------------------------------------------------------------
# verifying and loading


MANIFEST_FIELDS = frozenset(
    {
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
        "signature_algorithm",
        "signing_key_id",
        "signature",
    }
)
OPTIONAL_MANIFEST_FIELDS = frozenset({"self_test"})
"""``self_test`` (the canary) came after the first releases: those without it stay readable."""


def verify_release(folder: str | Path, public_key: str | Path, *, now: datetime | None = None) -> tuple[dict, bytes]:
    """The manifest and payload of a release, after every check; ReleaseError names the first failure.

    Order: format and version, the signature (with the deployer's key), every manifest field
    (``check_manifest``; ``now`` is the time ``created`` is compared with), the payload's size and
    sha256, then its content (``check_payload``). A release that passes is usable as it is.
    """
    folder = Path(folder)
    verifier = _load_key(public_key, private=False)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ReleaseError(f"{folder}: {Path(error.filename).name} is missing") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReleaseError(f"{folder}/manifest.json: unreadable ({error})") from error
    if not isinstance(manifest, dict):
        raise ReleaseError(f"{folder}/manifest.json: not a JSON object")
    if manifest.get("format") != FORMAT:
        raise ReleaseError(f"{folder}: not a deletion-list release (format {manifest.get('format')!r})")
    if not _is_int(manifest.get("format_version")) or manifest["format_version"] != FORMAT_VERSION:
        raise ReleaseError(
            f"{folder}: format version {manifest.get('format_version')!r}, this reader knows {FORMAT_VERSION}"
        )
    try:
        verifier.verify(bytes.fromhex(manifest.get("signature", "")), _signed_bytes(manifest))
    except (InvalidSignature, ValueError, TypeError) as error:
        raise ReleaseError(
            f"{folder}: the manifest's signature does not verify with public key "
            f"{key_id(verifier)} (tampered, or signed with another key)"
        ) from error
    check_manifest(manifest, f"{folder}/manifest.json", signing_key_id=key_id(verifier), now=now)
    payload_path = folder / "payload.bin"
    expected = manifest["entries"] * 9 + manifest["prefixes"] * 8
    try:
        size = payload_path.stat().st_size
        if size != expected:  # before reading: a local folder cannot make this read a huge file
            raise ReleaseError(f"{payload_path}: {size} bytes, the manifest says {expected} (truncated?)")
        payload = payload_path.read_bytes()
    except FileNotFoundError as error:
        raise ReleaseError(f"{folder}: payload.bin is missing") from error
    except OSError as error:
        raise ReleaseError(f"{payload_path}: unreadable ({error})") from error
    if len(payload) != expected:
        raise ReleaseError(f"{payload_path}: {len(payload)} bytes, the manifest says {expected} (truncated?)")
    if hashlib.sha256(payload).hexdigest() != manifest["payload_sha256"]:
        raise ReleaseError(f"{payload_path}: sha256 differs from the signed manifest (tampered)")
    check_payload(manifest, payload, str(payload_path))
    return manifest, payload


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_manifest(
    manifest: dict, where: str = "manifest.json", *, signing_key_id: str | None = None, now: datetime | None = None
) -> None:
    """Every field of a (signed) manifest: the exact key set, types, formats and bounds.

    A signature says who wrote a manifest, not that it is usable: a release with a ``created``
    without time zone, a non-hex key or ``max_tokens: 0`` would load and then fail, or filter
    nothing, on every request. ReleaseError names ``where`` and the field.
    """

    def fail(field: str, problem: str) -> NoReturn:
        raise ReleaseError(f"{where}: field {field!r} {problem}")

    if not isinstance(manifest, dict):
        raise ReleaseError(f"{where}: not a JSON object")
    for field in sorted(MANIFEST_FIELDS - set(manifest)):
        fail(field, "is missing")
    for field in sorted(set(manifest) - MANIFEST_FIELDS - OPTIONAL_MANIFEST_FIELDS):
        fail(field, f"is not part of format version {FORMAT_VERSION}")
    if manifest["format"] != FORMAT:
        fail("format", f"is {manifest['format']!r}, expected {FORMAT!r}")
    if not _is_int(manifest["format_version"]) or manifest["format_version"] != FORMAT_VERSION:
        fail("format_version", f"is {manifest['format_version']!r}, expected {FORMAT_VERSION}")

    version = manifest["list_version"]
    if (
        not isinstance(version, str)
        or not 1 <= len(version) <= MAX_LIST_VERSION_LENGTH
        or not _LIST_VERSION.fullmatch(version)
    ):
        fail(
            "list_version",
            f"is {version!r}: expected 1 to {MAX_LIST_VERSION_LENGTH} printable ASCII characters, "
            "without leading or trailing spaces",
        )

    created = manifest["created"]
    try:
        moment = datetime.fromisoformat(created) if isinstance(created, str) and len(created) <= 64 else None
    except ValueError:
        moment = None
    if moment is None:
        fail("created", f"is {created!r}, not an ISO 8601 date and time")
    if moment.tzinfo is None or moment.utcoffset() is None:
        fail("created", f"is {created!r}, without a time zone (write it with +00:00 or Z)")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if moment > now + CLOCK_SKEW:
        fail(
            "created",
            f"is {created!r}, in the future (now is {now.isoformat(timespec='seconds')}; "
            f"{CLOCK_SKEW.total_seconds() / 60:.0f} minutes of clock skew are allowed)",
        )

    normalization = manifest["normalization_version"]
    if not _is_int(normalization) or normalization not in SUPPORTED_NORMALIZATION_VERSIONS:
        fail(
            "normalization_version",
            f"is {normalization!r}; this reader supports {', '.join(map(str, SUPPORTED_NORMALIZATION_VERSIONS))}",
        )

    hashing = manifest["hash"]
    if not isinstance(hashing, dict) or set(hashing) != {"algorithm", "key", "key_id"}:
        fail("hash", "must be an object with exactly algorithm, key and key_id")
    if hashing["algorithm"] != HASH_ALGORITHM:
        fail("hash.algorithm", f"is {hashing['algorithm']!r}; this reader supports {HASH_ALGORITHM!r}")
    if not isinstance(hashing["key"], str) or not _HEX64.fullmatch(hashing["key"]):
        fail("hash.key", "must be 64 lowercase hex characters (a 32-byte key)")
    if hashing["key_id"] != hashlib.sha256(bytes.fromhex(hashing["key"])).hexdigest()[:16]:
        fail("hash.key_id", "does not match hash.key (first 16 hex characters of its sha256)")

    counts = manifest["counts"]
    if not isinstance(counts, dict) or set(counts) != set(CATEGORIES):
        fail("counts", f"must be an object with exactly the categories {', '.join(CATEGORIES)}")
    for category in CATEGORIES:
        if not _is_int(counts[category]) or counts[category] < 0:
            fail(f"counts.{category}", f"is {counts[category]!r}, not a non-negative integer")

    for field, least in (("entries", 1), ("prefixes", 0)):
        if not _is_int(manifest[field]) or manifest[field] < 0:
            fail(field, f"is {manifest[field]!r}, not a non-negative integer")
        if manifest[field] < least:
            raise ReleaseError(f"{where}: the release holds no entries (field 'entries' is 0)")
    max_tokens = manifest["max_tokens"]
    if not _is_int(max_tokens) or not 1 <= max_tokens <= MAX_ENTRY_TOKENS:
        fail("max_tokens", f"is {max_tokens!r}, not an integer from 1 to {MAX_ENTRY_TOKENS}")

    if not isinstance(manifest["payload_sha256"], str) or not _HEX64.fullmatch(manifest["payload_sha256"]):
        fail("payload_sha256", "must be 64 lowercase hex characters")
    if manifest["signature_algorithm"] != "ed25519":
        fail("signature_algorithm", f"is {manifest['signature_algorithm']!r}, expected 'ed25519'")
    if not isinstance(manifest["signing_key_id"], str) or not _HEX16.fullmatch(manifest["signing_key_id"]):
        fail("signing_key_id", "must be 16 lowercase hex characters")
    if signing_key_id is not None and manifest["signing_key_id"] != signing_key_id:
        fail("signing_key_id", f"is {manifest['signing_key_id']}, but the release verifies with key {signing_key_id}")
    if "self_test" in manifest and (
        not isinstance(manifest["self_test"], str) or not _CANARY.fullmatch(manifest["self_test"])
    ):
        fail("self_test", f"must be {SELF_TEST_PREFIX!r} followed by 24 lowercase hex characters")


def check_payload(manifest: dict, payload: bytes, where: str = "payload.bin") -> None:
    """The payload's content against its (checked) manifest: hashes and prefixes strictly increasing
    (a lookup by binary search needs sorted, unique values), category bytes in range, categories
    consistent with ``counts``, and the canary listed under the manifest's hash key."""
    entries, prefix_count = manifest["entries"], manifest["prefixes"]
    hashes = np.frombuffer(payload, dtype="<u8", count=entries)
    categories = np.frombuffer(payload, dtype="u1", count=entries, offset=entries * 8)
    prefixes = np.frombuffer(payload, dtype="<u8", count=prefix_count, offset=entries * 9)
    for name, values in (("entry hashes", hashes), ("prefix hashes", prefixes)):
        wrong = np.flatnonzero(values[1:] <= values[:-1])
        if len(wrong):
            index = int(wrong[0]) + 1
            problem = "a duplicate" if values[index] == values[index - 1] else "out of order"
            raise ReleaseError(
                f"{where}: {name} must be strictly increasing (sorted, unique); number {index} is {problem}"
            )
    if len(categories) and int(categories.max()) >= len(CATEGORIES):
        index = int(np.flatnonzero(categories >= len(CATEGORIES))[0])
        raise ReleaseError(
            f"{where}: category byte {int(categories[index])} of entry {index} is not an index into "
            f"{', '.join(CATEGORIES)}"
        )
    present = np.bincount(categories, minlength=len(CATEGORIES))
    counts = manifest["counts"]
    for index, category in enumerate(CATEGORIES):
        canary_only = category == "other" and "self_test" in manifest  # the canary is not a request
        if present[index] and not counts[category] and not canary_only:
            raise ReleaseError(
                f"{where}: {int(present[index])} entries have category {category}, but field "
                f"'counts.{category}' of the manifest is 0"
            )
    if counts["phone"] and not present[CATEGORIES.index("phone")]:
        raise ReleaseError(
            f"{where}: field 'counts.phone' of the manifest is {counts['phone']}, but no entry has category phone"
        )
    canary = manifest.get("self_test")
    if canary is not None:
        value = np.uint64(sequence_hash((canary,), bytes.fromhex(manifest["hash"]["key"])))
        position = int(np.searchsorted(hashes, value))
        if position == len(hashes) or hashes[position] != value:
            raise ReleaseError(
                f"{where}: the canary (field 'self_test') is not listed under the manifest's "
                "hash key: the payload was hashed with another key"
            )


@dataclass(frozen=True)
class DeletionList:
    """A verified release in memory: sorted hash arrays (9 bytes per entry plus 8 per prefix)
    and a one-bit-per-slot presence filter (~2 bytes per entry) that rejects most windows with a
    single memory access, so lookups stay fast when the sorted array no longer fits in cache."""

    manifest: dict
    hashes: np.ndarray
    categories: np.ndarray
    prefixes: np.ndarray
    source: str
    presence: np.ndarray
    presence_shift: int

    @classmethod
    def load(cls, folder: str | Path, public_key: str | Path, *, now: datetime | None = None) -> DeletionList:
        """Verify (``verify_release``; ``now`` for the check of ``created``) and load a release."""
        manifest, payload = verify_release(folder, public_key, now=now)
        entries, prefixes = manifest["entries"], manifest["prefixes"]
        hashes = np.frombuffer(payload, dtype="<u8", count=entries)
        presence, shift = _presence_filter(hashes)
        return cls(
            manifest=manifest,
            hashes=hashes,
            categories=np.frombuffer(payload, dtype="u1", count=entries, offset=entries * 8),
            prefixes=np.frombuffer(payload, dtype="<u8", count=prefixes, offset=entries * 9),
            source=str(folder),
            presence=presence,
            presence_shift=shift,
        )

    @property
    def version(self) -> str:
        return self.manifest["list_version"]

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.manifest["created"])

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.manifest["hash"]["key"])

    @property
    def max_tokens(self) -> int:
        return self.manifest["max_tokens"]

    @property
    def has_phones(self) -> bool:
        return self.manifest["counts"].get("phone", 0) > 0

    @property
    def canary(self) -> str | None:
        """The release's self-test value (``self_test`` in the manifest), None in releases without one."""
        return self.manifest.get("self_test")

    def verify_self_test(self, redactor: Redactor | None = None) -> None:
        """Redact the canary through ``redactor`` (default: a ``Redactor`` on this list alone), whole
        and streamed; ReleaseError unless it comes out redacted. A release without a canary redacts
        ``SELF_TEST_PROBE`` instead, which must only run without error. This catches what a
        signature cannot: a payload hashed under another key or normalization, a redactor that
        fails. The first call also imports and warms the anonymizer."""
        from apertus_compliance.filters.redactor import Redactor

        redactor = redactor if redactor is not None else Redactor(self)
        canary = self.canary
        text = SELF_TEST_PROBE if canary is None else f"Self-test: {canary}, 12 34."
        try:
            whole = redactor.redact(text)
            stream = redactor.stream()
            streamed = stream.feed(text[: len(text) // 2]) + stream.feed(text[len(text) // 2 :]) + stream.close()
        except Exception as error:  # any failure means the list cannot filter: the caller refuses it
            raise ReleaseError(
                f"{self.source}: self-test redaction failed ({type(error).__name__}: {error})"
            ) from error
        if canary is not None and (canary in whole or canary in streamed):
            raise ReleaseError(
                f"{self.source}: self-test failed: the canary (manifest field 'self_test') was not "
                "redacted (payload hashed under another key or normalization?)"
            )

    def self_test(self, redactor: Redactor | None = None) -> bool:
        """Whether ``verify_self_test`` passes."""
        try:
            self.verify_self_test(redactor)
        except ReleaseError:
            return False
        return True

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.created).total_seconds()

    def categories_of(self, values: np.ndarray) -> np.ndarray:
        """For each hash, its category index, or -1 when it is not listed."""
        result = np.full(len(values), -1, dtype=np.int16)
        slots = values >> np.uint64(self.presence_shift)
        maybe = np.flatnonzero((self.presence[slots >> np.uint64(3)] >> (slots & np.uint64(7)).astype(np.uint8)) & 1)
        if len(maybe):
            candidates = values[maybe]
            positions = np.searchsorted(self.hashes, candidates)
            positions[positions == len(self.hashes)] = 0
            found = self.hashes[positions] == candidates
            result[maybe[found]] = self.categories[positions[found]]
        return result

    def is_prefix(self, values: np.ndarray) -> np.ndarray:
        if not len(self.prefixes):
            return np.zeros(len(values), dtype=bool)
        positions = np.searchsorted(self.prefixes, values)
        positions[positions == len(self.prefixes)] = 0
        return self.prefixes[positions] == values


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` for uint64, by sort and compare (numpy's own took 18 s on 10M here)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def _presence_filter(hashes: np.ndarray) -> tuple[np.ndarray, int]:
    """A bitmap over the top bits of the hashes, about 16 slots per entry (6% false positives,
    which the sorted array then rejects)."""
    bits = max(10, int(np.ceil(np.log2(max(len(hashes), 1) * 16))))
    shift = 64 - bits
    slots = hashes >> np.uint64(shift)  # hashes are sorted, so are slots; repeats do no harm below
    presence = np.zeros(1 << (bits - 3), dtype=np.uint8)
    if len(slots):
        byte = slots >> np.uint64(3)
        starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
        presence[byte[starts]] = np.bitwise_or.reduceat(
            np.left_shift(1, (slots & np.uint64(7)).astype(np.uint8)), starts
        ).astype(np.uint8)
    return presence, shift


def diff_releases(old: dict, new: dict) -> dict:
    """What changed between two manifests, in counts only (the hashes say nothing useful)."""
    return {
        "list_version": [old["list_version"], new["list_version"]],
        "created": [old["created"], new["created"]],
        "counts": {
            category: new["counts"].get(category, 0) - old["counts"].get(category, 0) for category in CATEGORIES
        },
        "entries": new["entries"] - old["entries"],
        "same_hash_key": old["hash"]["key_id"] == new["hash"]["key_id"],
    }
