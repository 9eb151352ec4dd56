"""An append-only, crash-safe results store: SQLite in WAL mode, one row per finished attack.

Each attack is committed in its own transaction the moment it finishes, so a killed run loses at most the
attacks in flight. The run's configuration is stored beside the rows; opening a folder with a different
configuration is refused.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

DB_NAME = "results.sqlite"

_COLUMNS = {
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
_COLUMNS_ADDED_LATER = ("first_success_query",)
# Settings that may differ between a run and its resumption without changing any result.
_VOLATILE = {"onepixel_version", "batch_images", "device", "created", "data_path"}
# Settings added after the first release, with what runs made before them implicitly used (``None``: anything,
# because it was fixed by settings that are compared, e.g. the model's input size by its sha).
_ADDED_LATER: dict[str, Any] = {"space": "input", "input_size": None}


class ResultStore:
    """The results of one run folder."""

    def __init__(self, folder: str | Path, config: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / DB_NAME
        self.db = sqlite3.connect(self.path, timeout=60)  # worker processes share the store: wait for a writer
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: committed rows survive a killed process
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        cols = ", ".join(f"{k} {v}" for k, v in _COLUMNS.items())
        self.db.execute(f"CREATE TABLE IF NOT EXISTS attacks ({cols})")
        have = {r[1] for r in self.db.execute("PRAGMA table_info(attacks)")}
        for name in _COLUMNS_ADDED_LATER:
            if name not in have:
                self.db.execute(f"ALTER TABLE attacks ADD COLUMN {name} {_COLUMNS[name]}")
        self.db.commit()
        if config is not None:
            self._check_config(config)

    @property
    def config(self) -> dict[str, Any]:
        row = self.db.execute("SELECT value FROM meta WHERE key='config'").fetchone()
        return json.loads(row[0]) if row else {}

    def _check_config(self, config: dict[str, Any]) -> None:
        old = self.config
        if not old:
            self.db.execute("INSERT INTO meta VALUES ('config', ?)", (json.dumps(config, sort_keys=True),))
            self.db.commit()
            return
        old_filled = dict(old)
        for key, implied in _ADDED_LATER.items():
            if key not in old and key in config:
                old_filled[key] = config[key] if implied is None else implied
        volatile = set(_VOLATILE)
        if old_filled.get("model_sha256") and old_filled.get("model_sha256") == config.get("model_sha256"):
            volatile.add("model")  # the same model file by content, given by another path (another machine)
        diff = sorted(k for k in set(old_filled) | set(config)
                      if k not in volatile and old_filled.get(k) != config.get(k))
        if diff:
            shown = "; ".join(f"{k}: {old.get(k)!r} here vs {config.get(k)!r} now" for k in diff[:4])
            raise InputError(f"{self.folder} holds a run with a different configuration ({shown}); "
                             "use another --out folder or the same settings to resume")
        if old_filled != old:  # record the upgraded config so later checks compare every setting
            self.db.execute("UPDATE meta SET value=? WHERE key='config'", (json.dumps(old_filled, sort_keys=True),))
            self.db.commit()

    def done_uids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT uid FROM attacks")}

    def progress(self) -> tuple[int, int, int]:
        """``(attacks, successes, queries)`` stored so far (also those other processes stored)."""
        count, succ, queries = self.db.execute("SELECT COUNT(*), SUM(success), SUM(queries) FROM attacks").fetchone()
        return int(count), int(succ or 0), int(queries or 0)

    def add(self, row: dict[str, Any]) -> None:
        """Append one finished attack (committed at once)."""
        vals = [json.dumps(row[k]) if k == "changes" else row.get(k) for k in _COLUMNS]
        self.db.execute(f"INSERT OR REPLACE INTO attacks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                        vals)
        self.db.commit()

    def add_many(self, rows: list[dict[str, Any]]) -> int:
        """Append finished attacks in one transaction, skipping any whose uid is already stored (an attack that
        ran twice, e.g. retried after its worker was lost, keeps its first row); returns how many were new."""
        vals = [[json.dumps(r[k]) if k == "changes" else r.get(k) for k in _COLUMNS] for r in rows]
        before = self.db.total_changes
        self.db.executemany(f"INSERT OR IGNORE INTO attacks ({', '.join(_COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(_COLUMNS))})", vals)
        self.db.commit()
        return self.db.total_changes - before

    def close(self) -> None:
        self.db.close()


def load_results(folder: str | Path):
    """All finished attacks of a run folder as a pandas DataFrame (``changes`` decoded from JSON);
    the run's configuration is in ``df.attrs["config"]``.

    ``first_success_query`` is a nullable integer: missing for failures, and for successes stored before it
    was recorded (then only ``queries``, where the attack stopped, bounds it from above)."""
    import pandas as pd

    path = Path(folder) / DB_NAME
    if not path.is_file():
        raise InputError(f"{folder} is not a run folder (no {DB_NAME}); create one with `onepixel evaluate --out {folder}`")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        df = pd.read_sql_query("SELECT * FROM attacks ORDER BY pixels, image, target", db)
        row = db.execute("SELECT value FROM meta WHERE key='config'").fetchone()
    finally:
        db.close()
    df["changes"] = df["changes"].map(json.loads)
    df["success"] = df["success"].astype(bool)
    df["target"] = df["target"].astype("Int64")
    for name in _COLUMNS_ADDED_LATER:  # a store from before the column (opened read-only: not migrated)
        df[name] = df[name].astype("Int64") if name in df else pd.array([pd.NA] * len(df), dtype="Int64")
    df.attrs["config"] = json.loads(row[0]) if row else {}
    return df


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
