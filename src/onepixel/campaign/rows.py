"""The store's row format: one finished attack as a row (its columns, the pixel changes as JSON lists), from an
:class:`~onepixel.results.AttackResult` and back onto an image."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from ..errors import InputError
from ..results import AttackResult
from .protocol import WorkUnit

#: the columns of the attacks table, with their SQLite types
COLUMNS = {
    "uid": "TEXT PRIMARY KEY", "image": "INTEGER", "pixels": "INTEGER", "mode": "TEXT", "target": "INTEGER",
    "label": "INTEGER", "success": "INTEGER", "predicted_before": "INTEGER", "predicted_after": "INTEGER",
    "predicted_prob_after": "REAL", "label_prob_before": "REAL", "label_prob_after": "REAL",
    "target_prob_after": "REAL", "queries": "INTEGER", "verify_queries": "INTEGER", "generations": "INTEGER",
    "seconds": "REAL", "seed": "INTEGER", "changes": "TEXT", "finished_at": "REAL",
    # the search query of the first verified success (NULL: never, or a store from before it was recorded)
    "first_success_query": "INTEGER",
}
# Columns added after the first release: a store opened for writing gets them (NULL in its older rows), and
# readers of a store without them see them as missing values.
COLUMNS_ADDED_LATER = ("first_success_query",)


def attack_row(unit: WorkUnit, result: AttackResult, image: np.ndarray, seconds: float,
               offset: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """The row of one finished attack: ``unit`` is what was attacked, ``image`` the image the search changed
    (its pixels' old colours are stored beside the new ones), ``seconds`` the attack's share of its batch's
    wall time, and ``offset`` (x, y) where that image lies in the stored one (a file-space crop box)."""
    changes = [[p[0] + offset[0], p[1] + offset[1], *p[2:], *(int(v) for v in image[p[1], p[0]])]
               for p in result.pixels]
    r = result
    return {
        "uid": unit.uid, "image": unit.image, "pixels": unit.pixels, "mode": unit.mode, "target": unit.target,
        "label": unit.label, "success": int(r.success), "predicted_before": r.predicted_before,
        "predicted_after": r.predicted_after, "predicted_prob_after": r.predicted_prob_after,
        "label_prob_before": r.label_prob_before, "label_prob_after": r.label_prob_after,
        "target_prob_after": r.target_prob_after, "queries": r.queries, "verify_queries": r.verify_queries,
        "generations": r.generations, "seconds": seconds, "seed": r.seed, "changes": changes,
        "finished_at": time.time(), "first_success_query": r.first_success_query,
    }


def row_values(row: dict[str, Any]) -> list[Any]:
    """A row's values in :data:`COLUMNS` order, as SQLite stores them (changes as JSON)."""
    return [json.dumps(row[k]) if k == "changes" else row.get(k) for k in COLUMNS]


def decode_changes(text: Any, size: tuple[int, int] | None = None) -> list[list[int]]:
    """A row's stored pixel changes: a list of [x, y, new colour..., old colour...] with coordinates >= 0 and
    colours 0..255, inside a ``size`` = (height, width) image where one is given; anything else raises ValueError
    naming what is wrong."""
    changes = json.loads(text)
    if not isinstance(changes, list):
        raise ValueError("changes are not a list")
    for c in changes:
        if not isinstance(c, list) or len(c) not in (4, 8) or not all(isinstance(v, int) for v in c):
            raise ValueError(f"change {c!r:.40} is not [x, y, colour, old colour] integers")
        if c[0] < 0 or c[1] < 0 or not all(0 <= v <= 255 for v in c[2:]):
            raise ValueError(f"change {c} has a negative coordinate or a colour outside 0..255")
    if size and any(c[0] >= size[1] or c[1] >= size[0] for c in changes):
        raise ValueError(f"a change lies outside the {size[1]}x{size[0]} image")
    return changes


def apply_changes(image: np.ndarray, changes: list[list[int]], check: bool = True) -> np.ndarray:
    """A copy of ``image`` with each stored change ``[x, y, *new colour, *old colour]`` applied; with ``check``,
    refuse an image whose pixel does not have the stored old colour (the data differ from the run's)."""
    out = image.copy()
    c = out.shape[-1]
    for change in changes:
        x, y, new, old = change[0], change[1], change[2:2 + c], change[2 + c:]
        if check and list(image[y, x]) != list(old):
            raise InputError(f"stored change at ({x}, {y}) expects the original colour {old}, the image has "
                             f"{list(image[y, x])}: the data differ from the run's (check --data)")
        out[y, x] = new
    return out
