"""Remembered answers: a change the search proposes again is answered from memory, not by the model.

Differential evolution converges: once decoded to integer pixels and 0..255 colours, most late trials of the
paper's DE repeat a change already asked about (a full 40,400-query targeted run on ResNet-20: 58 % of all
queries, 97-99 % of the last generations'). The model is deterministic for a fixed chunk shape, so a repeat gets
exactly the answer the model would give again. The runner therefore queries the model only for changes it has
not seen, and still counts every query the search made (the paper's count), so results are bit-for-bit those of
a run without the memo; only model time falls.

Keys are exact: one int64 row per query (base image, x's, y's, colours). They are found by a 64-bit hash in a
sorted array and then compared in full, so a hash collision costs a model query, never a wrong answer.
"""

from __future__ import annotations

import numpy as np

from .candidates import Pixels

_MIX = np.uint64(0x9E3779B97F4A7C15)


def query_keys(which: np.ndarray, pixels: Pixels) -> np.ndarray:
    """One exact int64 key row per query: base image index, then the k x's, k y's and k * C colour values."""
    n = len(which)
    return np.concatenate([np.asarray(which, dtype=np.int64).reshape(n, 1), pixels.x.reshape(n, -1).astype(np.int64),
                           pixels.y.reshape(n, -1).astype(np.int64), pixels.colours.reshape(n, -1).astype(np.int64)],
                          axis=1)


def _hash(keys: np.ndarray) -> np.ndarray:
    """A 64-bit hash per key row (multiply-xorshift over the columns; uint64 arithmetic wraps by design)."""
    h = np.zeros(len(keys), dtype=np.uint64)
    for col in keys.T.astype(np.uint64):
        h = (h ^ col) * _MIX
        h ^= h >> np.uint64(29)
    return h


class QueryMemo:
    """Answers of earlier queries, per base image, evicted when the image is finished or memory runs short.

    Rows (key, answer, last use) are appended to growable arrays and never moved on insert; a sorted index of
    (hash, row) pairs finds them. Inserting a round's new answers therefore shifts 16 bytes per remembered
    change instead of the whole row (a 1000-class answer is 8 kB), and dead rows are compacted in bulk.

    Args:
        classes: length of one answer (the model's class count).
        max_bytes: memory for keys and answers; past it the least recently used answers are dropped.
    """

    def __init__(self, classes: int, max_bytes: int = 256 << 20) -> None:
        self.classes = classes
        self.max_bytes = max_bytes
        self._tick = 0
        #: queries answered from memory so far
        self.hits = 0
        self._reset(0)

    def _reset(self, key_columns: int) -> None:
        self._hash = np.empty(0, dtype=np.uint64)  # sorted
        self._row = np.empty(0, dtype=np.int64)  # store row of each index entry
        self._keys = np.empty((0, key_columns), dtype=np.int64)  # store: capacity rows, the first _rows in use
        self._answers = np.empty((0, self.classes))
        self._used = np.empty(0, dtype=np.int64)  # tick of last use, for eviction
        self._rows = 0

    def __len__(self) -> int:
        return len(self._hash)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(answers, found)``: answers (n, classes) with rows filled where ``found``."""
        self._tick += 1
        n = len(keys)
        answers = np.empty((n, self.classes))
        found = np.zeros(n, dtype=bool)
        if not len(self) or not n or self._keys.shape[1] != keys.shape[1]:
            return answers, found
        h = _hash(keys)
        order = np.argsort(h)  # searching sorted needles walks the index once instead of n random descents
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.searchsorted(self._hash, h[order])
        pos = np.minimum(pos, len(self) - 1)
        hit = np.nonzero(self._hash[pos] == h)[0]
        rows = self._row[pos[hit]]
        same = (self._keys[rows] == keys[hit]).all(axis=1)
        hit, rows = hit[same], rows[same]
        found[hit] = True
        answers[hit] = self._answers[rows]
        self._used[rows] = self._tick
        self.hits += len(hit)
        return answers, found

    def add(self, keys: np.ndarray, answers: np.ndarray) -> None:
        """Remember ``answers`` to distinct ``keys`` (rows whose hash is already taken are not stored)."""
        if not len(keys):
            return
        if self._keys.shape[1] != keys.shape[1]:  # another pixel count: start afresh
            self._reset(keys.shape[1])
        self._tick += 1
        h = _hash(keys)
        h, first = np.unique(h, return_index=True)
        pos = np.searchsorted(self._hash, h)
        new = self._hash[np.minimum(pos, len(self) - 1)] != h if len(self) else np.ones(len(h), dtype=bool)
        pos, h, first = pos[new], h[new], first[new]
        rows = self._append(keys[first], answers[first])
        self._hash = np.insert(self._hash, pos, h)
        self._row = np.insert(self._row, pos, rows)
        self._evict()

    def forget(self, images: np.ndarray) -> None:
        """Drop every answer about the given base images (they are finished)."""
        if len(self) and len(images):
            # Only the index forgets; the dead rows are compacted away when the store next needs room.
            keep = ~np.isin(self._keys[self._row, 0], images)
            self._hash, self._row = self._hash[keep], self._row[keep]

    def _limit(self) -> int:
        """How many answers fit in ``max_bytes``."""
        return max(1, self.max_bytes // (8 * (1 + self._keys.shape[1] + self.classes + 1)))

    def _append(self, keys: np.ndarray, answers: np.ndarray) -> np.ndarray:
        """Store rows at the end and return their row numbers. Capacity doubles (appends are amortised) up to
        the memory limit plus one round; dead rows are compacted away first."""
        end = self._rows + len(keys)
        if end > len(self._keys) and self._rows > len(self):
            self._compact(np.ones(len(self), dtype=bool))
            end = self._rows + len(keys)
        if end > len(self._keys):
            capacity = max(end, min(max(2 * len(self._keys), 1024), self._limit() + len(keys)))
            grown = [np.empty((capacity, *a.shape[1:]), dtype=a.dtype) for a in (self._keys, self._answers, self._used)]
            for old, big in zip((self._keys, self._answers, self._used), grown):
                big[: self._rows] = old[: self._rows]
            self._keys, self._answers, self._used = grown
        self._keys[self._rows:end] = keys
        self._answers[self._rows:end] = answers
        self._used[self._rows:end] = self._tick
        rows = np.arange(self._rows, end)
        self._rows = end
        return rows

    def _evict(self) -> None:
        limit = self._limit()
        if len(self) > limit:
            # Keep the most recently used half of the limit: evicting in bulk keeps inserts amortised.
            keep = np.zeros(len(self), dtype=bool)
            keep[np.argsort(-self._used[self._row], kind="stable")[: max(1, limit // 2)]] = True
            self._compact(keep)

    def _compact(self, mask: np.ndarray) -> None:
        """Keep the index entries in ``mask`` and move their rows to the front of the store (in index order)."""
        self._hash, rows = self._hash[mask], self._row[mask]
        n = len(rows)
        for store in (self._keys, self._answers, self._used):
            store[:n] = store[rows]  # fancy indexing copies first, so the overlap is safe
        self._row = np.arange(n)
        self._rows = n
