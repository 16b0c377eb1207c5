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
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from apertus_compliance.filters.normalize import NORMALIZATION_VERSION, entry_variants, phone_variants

FORMAT = "apertus-compliance/deletion-list"
FORMAT_VERSION = 1
HASH_ALGORITHM = "blake2b-64-keyed-tokens+poly64-splitmix-v1"
CATEGORIES = ("name", "email", "phone", "address", "other")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


class ReleaseError(ValueError):
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
            value = cache[token] = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8, key=key).digest(),
                                                  "little")
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
                running = running[:-1] * _MULTIPLIER + hashes[width - 1:]
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
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _load_key(path: str | Path, private: bool) -> Ed25519PrivateKey | Ed25519PublicKey:
    try:
        data = Path(path).read_bytes()
        key = (serialization.load_pem_private_key(data, password=None) if private
               else serialization.load_pem_public_key(data))
    except (OSError, ValueError, TypeError) as error:
        raise ReleaseError(f"{path}: not a readable ed25519 {'private' if private else 'public'} key ({error})") from error
    if not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey):
        raise ReleaseError(f"{path}: not an ed25519 key")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _signed_bytes(manifest: dict) -> bytes:
    return json.dumps({k: v for k, v in manifest.items() if k != "signature"}, sort_keys=True,
                      separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------
# building


def read_requests(path: str | Path) -> list[tuple[str, str, str | None]]:
    """``value,category[,region]`` rows; a bad row is an error naming its line."""
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
                rows.append((value, category, (row.get("region") or "").strip().upper() or None))
    except (OSError, UnicodeDecodeError) as error:
        raise ReleaseError(f"{path}: cannot read it ({error})") from error
    if not rows:
        raise ReleaseError(f"{path}: no requests (an empty list would filter nothing)")
    return rows


def release_hash_key(private_key: str | Path, list_version: str) -> bytes:
    """The release's hash key, derived from the signing key and the version: builds repeat
    byte for byte, and each version has its own key (old hashes say nothing about new lists)."""
    signer = _load_key(private_key, private=True)
    seed = signer.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    return hashlib.blake2b(list_version.encode(), key=seed, digest_size=32, person=b"apertus-dl-v1").digest()


def build_release(requests: str | Path, private_key: str | Path, out: str | Path, list_version: str,
                  created: datetime | None = None) -> dict:
    """Hash, sign and write a release; the plaintext never leaves this function."""
    hash_key = release_hash_key(private_key, list_version)
    entries: dict[int, int] = {}
    prefixes: set[int] = set()
    counts: Counter[str] = Counter()
    longest = 1
    for value, category, region in read_requests(requests):
        sequences = ([(digits,) for digits in phone_variants(value, region)] if category == "phone"
                     else entry_variants(value))
        if not sequences:
            raise ReleaseError(f"{requests}: {category} entry without any word or digit")
        counts[category] += 1
        for tokens in sequences:
            longest = max(longest, len(tokens))
            hashes = window_hashes(token_hashes(list(tokens), hash_key), len(tokens))
            entries.setdefault(int(hashes[-1][0]), CATEGORIES.index(category))
            prefixes.update(int(hashes[width - 1][0]) for width in range(1, len(tokens)))
    order = np.array(sorted(entries), dtype=np.uint64)
    categories = np.array([entries[int(value)] for value in order], dtype=np.uint8)
    return write_release(out, private_key, list_version, hash_key, order, categories,
                         np.fromiter(prefixes, dtype=np.uint64, count=len(prefixes)), counts, longest, created)


def write_release(out: str | Path, private_key: str | Path, list_version: str, hash_key: bytes,
                  hashes: np.ndarray, categories: np.ndarray, prefixes: np.ndarray, counts: Counter[str],
                  longest: int, created: datetime | None = None) -> dict:
    """Write already-hashed entries (sorted, unique) as a signed release. ``build_release`` is
    the normal way in; bulk producers (the benchmark's 10M entries) hash with numpy and call this."""
    signer = _load_key(private_key, private=True)
    created = created or datetime.now(UTC).replace(microsecond=0)
    prefixes = sorted_unique(prefixes)
    payload = (hashes.astype("<u8").tobytes() + categories.astype("u1").tobytes()
               + prefixes.astype("<u8").tobytes())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "payload.bin").write_bytes(payload)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "list_version": list_version,
        "created": created.isoformat(),
        "normalization_version": NORMALIZATION_VERSION,
        "hash": {"algorithm": HASH_ALGORITHM, "key_id": hashlib.sha256(hash_key).hexdigest()[:16],
                 "key": hash_key.hex()},
        "counts": {category: counts.get(category, 0) for category in CATEGORIES},
        "entries": len(hashes),
        "prefixes": len(prefixes),
        "max_tokens": longest,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "signature_algorithm": "ed25519",
        "signing_key_id": key_id(signer.public_key()),
    }
    manifest["signature"] = signer.sign(_signed_bytes(manifest)).hex()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


# --------------------------------------------------------------------------------------------
# verifying and loading


def verify_release(folder: str | Path, public_key: str | Path) -> tuple[dict, bytes]:
    """The manifest and payload of a release, after every check; ReleaseError names the first failure."""
    folder = Path(folder)
    verifier = _load_key(public_key, private=False)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        payload = (folder / "payload.bin").read_bytes()
    except FileNotFoundError as error:
        raise ReleaseError(f"{folder}: {Path(error.filename).name} is missing") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReleaseError(f"{folder}/manifest.json: unreadable ({error})") from error
    if not isinstance(manifest, dict):
        raise ReleaseError(f"{folder}/manifest.json: not a JSON object")
    if manifest.get("format") != FORMAT:
        raise ReleaseError(f"{folder}: not a deletion-list release (format {manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ReleaseError(f"{folder}: format version {manifest.get('format_version')!r}, this reader knows "
                           f"{FORMAT_VERSION}")
    try:
        verifier.verify(bytes.fromhex(manifest.get("signature", "")), _signed_bytes(manifest))
    except (InvalidSignature, ValueError) as error:
        raise ReleaseError(f"{folder}: the manifest's signature does not verify with public key "
                           f"{key_id(verifier)} (tampered, or signed with another key)") from error
    expected = manifest["entries"] * 9 + manifest["prefixes"] * 8
    if len(payload) != expected:
        raise ReleaseError(f"{folder}/payload.bin: {len(payload)} bytes, the manifest says {expected} (truncated?)")
    if hashlib.sha256(payload).hexdigest() != manifest["payload_sha256"]:
        raise ReleaseError(f"{folder}/payload.bin: sha256 differs from the signed manifest (tampered)")
    if manifest["normalization_version"] != NORMALIZATION_VERSION or manifest["hash"]["algorithm"] != HASH_ALGORITHM:
        raise ReleaseError(f"{folder}: normalization v{manifest['normalization_version']} / "
                           f"{manifest['hash']['algorithm']} is not supported")
    if manifest["entries"] == 0:
        raise ReleaseError(f"{folder}: the release holds no entries")
    return manifest, payload


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
    def load(cls, folder: str | Path, public_key: str | Path) -> DeletionList:
        manifest, payload = verify_release(folder, public_key)
        entries, prefixes = manifest["entries"], manifest["prefixes"]
        hashes = np.frombuffer(payload, dtype="<u8", count=entries)
        presence, shift = _presence_filter(hashes)
        return cls(manifest=manifest, hashes=hashes,
                   categories=np.frombuffer(payload, dtype="u1", count=entries, offset=entries * 8),
                   prefixes=np.frombuffer(payload, dtype="<u8", count=prefixes, offset=entries * 9),
                   source=str(folder), presence=presence, presence_shift=shift)

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
        presence[byte[starts]] = np.bitwise_or.reduceat(np.left_shift(1, (slots & np.uint64(7)).astype(np.uint8)),
                                                        starts).astype(np.uint8)
    return presence, shift


def diff_releases(old: dict, new: dict) -> dict:
    """What changed between two manifests, in counts only (the hashes say nothing useful)."""
    return {
        "list_version": [old["list_version"], new["list_version"]],
        "created": [old["created"], new["created"]],
        "counts": {category: new["counts"].get(category, 0) - old["counts"].get(category, 0)
                   for category in CATEGORIES},
        "entries": new["entries"] - old["entries"],
        "same_hash_key": old["hash"]["key_id"] == new["hash"]["key_id"],
    }
