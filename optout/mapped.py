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
    """Appends strings: their UTF-8 bytes to ``name.utf8``, where each ends to ``name.offsets.i64``."""

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
        return {name: file.close() for name, file in self.files.items()}


def map_fixed(path: Path) -> np.ndarray:
    """A fixed-width column, mapped read-only (an empty file gives an empty array: mmap refuses those)."""
    dtype = DTYPES[path.name.rsplit(".", 1)[1]]
    if path.stat().st_size == 0:
        return np.empty(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r")


class MappedText:
    """A text column, mapped: ``text[i]`` decodes one value from the shared pages."""

    __slots__ = ("data", "offsets")

    def __init__(self, folder: Path, name: str) -> None:
        self.offsets = map_fixed(folder / f"{name}.offsets.i64")
        path = folder / f"{name}.utf8"
        if path.stat().st_size == 0:
            self.data: mmap.mmap | bytes = b""
        else:
            with path.open("rb") as handle:
                self.data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

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
        with numpy (no string is made)."""
        starts, ends = self.offsets[indices], self.offsets[np.asarray(indices) + 1]
        theirs, their_data = _offsets_and_bytes(texts)
        lengths = (ends - starts).astype(np.int64)
        same = lengths == np.diff(theirs)
        candidates = np.nonzero(same & (lengths > 0))[0]
        if not len(candidates):
            return same
        ours = np.frombuffer(self.data, np.uint8)
        spans = lengths[candidates]
        within = np.arange(int(spans.sum()), dtype=np.int64) - np.repeat(np.cumsum(spans) - spans, spans)
        equal_bytes = (
            ours[np.repeat(starts[candidates], spans) + within]
            == their_data[np.repeat(theirs[candidates], spans) + within]
        )
        same[candidates] = np.logical_and.reduceat(equal_bytes, np.cumsum(spans) - spans)
        return same


_PRIME = np.uint64(0x100000001B3)
_POWERS = np.ones(1, np.uint64)


def key_hashes(keys: Sequence[str] | pa.Array) -> np.ndarray:
    """A 64-bit hash of each (non-empty) key, computed for all keys at once.

    A polynomial over the UTF-8 bytes (wrapping at 2**64), mixed with the length and finished
    with a multiply-xorshift so nearby keys spread. Stable across processes and machines
    (Python's ``hash`` is not), and the same whether keys come as a list or an Arrow array.
    """
    global _POWERS
    if len(keys) == 0:
        return np.empty(0, np.uint64)
    offsets, data = _offsets_and_bytes(keys)
    lengths = np.diff(offsets)
    if lengths.min() == 0:
        raise ValueError("key_hashes: empty keys cannot be hashed")
    longest = int(lengths.max())
    if len(_POWERS) < longest:
        _POWERS = np.cumprod(np.concatenate([[1], np.full(longest + 64, _PRIME)]).astype(np.uint64), dtype=np.uint64)
    from_end = np.repeat(offsets[1:], lengths) - 1 - np.arange(len(data), dtype=np.int64)
    hashed = np.add.reduceat(data.astype(np.uint64) * _POWERS[from_end], offsets[:-1]) + lengths.astype(np.uint64)
    hashed ^= hashed >> np.uint64(31)
    hashed *= np.uint64(0x9E3779B97F4A7C15)
    hashed ^= hashed >> np.uint64(29)
    return hashed


def _offsets_and_bytes(texts: Sequence[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of ``texts`` end to end and where each starts (one more offset than texts,
    the first 0), read from Arrow's buffers without copying where they allow."""
    array = texts.cast(pa.large_string()) if isinstance(texts, pa.Array) else pa.array(texts, pa.large_string())
    if len(array) == 0:
        return np.zeros(1, np.int64), np.empty(0, np.uint8)
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, np.uint8)[offsets[0] : offsets[-1]] if data_buffer else np.empty(0, np.uint8)
    return offsets - offsets[0], data
