"""Column files a snapshot is made of, written in streams and read by memory-mapping them.

A fixed-width column is a raw little-endian array (``name.u8``, ``name.u32``, ``name.i64``...);
a text column is its UTF-8 bytes end to end (``name.utf8``) and the offsets of its values
(``name.offsets.i64``, one more than values, starting at 0). No header, nothing compressed: a
worker maps the files and reads values where they lie, so every process on a node shares the
same pages through the page cache and opening costs what reading the manifest costs.

Keys are found through ``key_hashes``: a 64-bit hash of each key, computed over a whole batch
of keys with numpy; a snapshot keeps its keys' hashes sorted and checks every candidate's key
text, so a collision costs a comparison, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

DTYPES = {"u8": np.uint8, "u32": np.uint32, "i32": np.int32, "i64": np.int64, "u64": np.uint64}


class FileHasher:
    """A file written in appends, hashed as it is written: ``close()`` gives its sha256 and size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = path.open("wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def close(self) -> dict:
        self.handle.close()
        return {"sha256": self.digest.hexdigest(), "bytes": self.size}


class FixedWriter:
    """Appends values of one fixed-width type (the file's suffix names it)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.dtype = DTYPES[name.rsplit(".", 1)[1]]
        self.files = {name: FileHasher(folder / name)}

    def write(self, values: Sequence[int] | np.ndarray) -> None:
        (file,) = self.files.values()
        file.write(np.asarray(values, dtype=self.dtype).tobytes())

    def close(self) -> dict[str, dict]:
        return {name: file.close() for name, file in self.files.items()}


class TextWriter:
    """Appends strings: their UTF-8 bytes to ``name.utf8``, where each ends to ``name.offsets.i64``;
    ``close`` ends the bytes with ``PADDING`` zero bytes."""

    def __init__(self, folder: Path, name: str) -> None:
        self.data = FileHasher(folder / f"{name}.utf8")
        self.offsets = FileHasher(folder / f"{name}.offsets.i64")
        self.offsets.write(np.zeros(1, np.int64).tobytes())
        self.end = 0
        self.files = {f"{name}.utf8": self.data, f"{name}.offsets.i64": self.offsets}

    def write(self, values: Sequence[str]) -> None:
        encoded = [value.encode("utf-8", "surrogatepass") for value in values]
        ends = np.cumsum([len(value) for value in encoded], dtype=np.int64) + self.end
        if len(ends):
            self.end = int(ends[-1])
        self.data.write(b"".join(encoded))
        self.offsets.write(ends.tobytes())

    def close(self) -> dict[str, dict]:
        self.data.write(bytes(PADDING))  # after the last value: 8 bytes can be read at any value's start
        return {name: file.close() for name, file in self.files.items()}


def map_fixed(path: Path) -> np.ndarray:
    """A fixed-width column, mapped read-only (an empty file gives an empty array: mmap refuses those)."""
    dtype = DTYPES[path.name.rsplit(".", 1)[1]]
    if path.stat().st_size == 0:
        return np.empty(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r").view(np.ndarray)  # a plain array: memmap's indexing is slow


class MappedText:
    """A text column, mapped: ``text[i]`` decodes one value from the shared pages; ``words`` reads
    8 bytes at any byte (the file's padding keeps the last value's words inside it)."""

    __slots__ = ("data", "offsets", "words")

    def __init__(self, folder: Path, name: str) -> None:
        self.offsets = map_fixed(folder / f"{name}.offsets.i64")
        path = folder / f"{name}.utf8"
        if path.stat().st_size < PADDING:
            raise ValueError(f"{path}: shorter than the {PADDING} bytes of padding every text column ends with")
        with path.open("rb") as handle:
            self.data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        self.words = words(np.frombuffer(self.data, np.uint8))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> str:
        return self.data[int(self.offsets[index]) : int(self.offsets[index + 1])].decode("utf-8", "surrogatepass")

    def slices(self, indices: np.ndarray) -> list[str]:
        """Several values at once (their offsets gathered with numpy)."""
        starts, ends = self.offsets[indices].tolist(), self.offsets[np.asarray(indices) + 1].tolist()
        data = self.data
        return [data[start:end].decode("utf-8", "surrogatepass") for start, end in zip(starts, ends, strict=True)]

    def equal(self, indices: np.ndarray, texts: pa.Array) -> np.ndarray:
        """Whether value ``indices[i]`` is ``texts[i]``, for all at once: lengths, then bytes, compared
        8 at a time with numpy (no string is made)."""
        starts, ends = self.offsets[indices], self.offsets[np.asarray(indices) + 1]
        theirs, their_data = offsets_and_bytes(texts)
        lengths = ends - starts
        same = lengths == np.diff(theirs)
        candidates = np.nonzero(same)[0]
        padded = words(np.concatenate([their_data, np.zeros(PADDING, np.uint8)]))
        same[candidates] = equal_spans(self.words, starts[candidates], padded, theirs[candidates], lengths[candidates])
        return same


PADDING = 8
"""Zero bytes after the last value of every text column (``.utf8`` file), so that a reader can load
a little-endian 64-bit word at the start of any value, or anywhere in it, without a bounds check."""
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [2**64 - 1], np.uint64)
"""The low ``n`` bytes of a little-endian word, for ``n`` from 0 to 8."""


def words(data: np.ndarray) -> np.ndarray:
    """The 8-byte little-endian word starting at every byte of ``data`` but the last 7 (pad ``data``
    with ``PADDING`` bytes to read words up to its end)."""
    return np.ndarray((max(len(data) - 7, 0),), np.dtype("<u8"), buffer=data, strides=(1,))


def equal_spans(
    a: np.ndarray, a_starts: np.ndarray, b: np.ndarray, b_starts: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Whether bytes ``a_starts[i] : + lengths[i]`` equal bytes ``b_starts[i] : + lengths[i]``, for
    every i at once, 8 bytes a step (``a`` and ``b`` as ``words`` gives them)."""
    same = np.ones(len(lengths), bool)
    active = np.nonzero(lengths > 0)[0]
    done = 0
    while len(active):
        left = lengths[active] - done
        differ = (a[a_starts[active] + done] ^ b[b_starts[active] + done]) & _MASKS[np.minimum(left, 8)]
        same[active[differ != 0]] = False
        active = active[(differ == 0) & (left > 8)]
        done += 8
    return same


def ranges(begins: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``begins[i], begins[i] + 1, ..., begins[i] + counts[i] - 1`` for every i, end to end."""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    return np.repeat(np.asarray(begins, np.int64) - np.cumsum(counts) + counts, counts) + np.arange(total)


_PRIME = np.uint64(0x100000001B3)
_POWERS = np.ones(1, np.uint64)


def key_hashes(keys: Sequence[str] | pa.Array) -> np.ndarray:
    """A 64-bit hash of each (non-empty) key, computed for all keys at once.

    A polynomial over the key's UTF-8 bytes read as little-endian 64-bit words (the last one
    zero-filled), wrapping at 2**64, plus the length, finished with a multiply-xorshift so nearby
    keys spread. Stable across processes and machines (Python's ``hash`` is not), and the same
    whether keys come as a list or an Arrow array.
    """
    global _POWERS
    if len(keys) == 0:
        return np.empty(0, np.uint64)
    offsets, data = offsets_and_bytes(keys)
    lengths = np.diff(offsets)
    if lengths.min() == 0:
        raise ValueError("key_hashes: empty keys cannot be hashed")
    counts = (lengths + 7) // 8
    ends = np.cumsum(counts)
    if len(_POWERS) < int(counts.max()):
        _POWERS = np.cumprod(
            np.concatenate([[1], np.full(int(counts.max()) + 64, _PRIME)]).astype(np.uint64), dtype=np.uint64
        )
    starts = np.repeat(offsets[:-1], counts) + 8 * (np.arange(int(ends[-1])) - np.repeat(ends - counts, counts))
    values = words(np.concatenate([data, np.zeros(PADDING, np.uint8)]))[starts]
    values &= _MASKS[np.minimum(np.repeat(offsets[1:], counts) - starts, 8)]
    from_end = np.repeat(ends, counts) - 1 - np.arange(int(ends[-1]), dtype=np.int64)
    hashed = np.add.reduceat(values * _POWERS[from_end], ends - counts) + lengths.astype(np.uint64)
    hashed ^= hashed >> np.uint64(31)
    hashed *= np.uint64(0x9E3779B97F4A7C15)
    hashed ^= hashed >> np.uint64(29)
    return hashed


def offsets_and_bytes(texts: Sequence[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of ``texts`` end to end and where each starts (one more offset than texts,
    the first 0), read from Arrow's buffers without copying the bytes."""
    array = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())
    if array.type not in (pa.string(), pa.large_string()):
        array = array.cast(pa.large_string())
    if len(array) == 0:
        return np.zeros(1, np.int64), np.empty(0, np.uint8)
    _, offsets_buffer, data_buffer = array.buffers()
    width = np.int32 if array.type == pa.string() else np.int64
    offsets = np.frombuffer(offsets_buffer, width)[array.offset : array.offset + len(array) + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, np.uint8)[offsets[0] : offsets[-1]] if data_buffer else np.empty(0, np.uint8)
    return offsets - offsets[0], data
