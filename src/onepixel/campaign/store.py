"""An append-only, crash-safe results store: SQLite in WAL mode, one row per finished attack.

Each attack is committed in its own transaction the moment it finishes, so a killed run loses at most the
attacks in flight. The run's configuration is stored beside the rows; opening a folder with a different
configuration is refused.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InputError
from .config import differences, upgraded, with_implied
from .rows import COLUMNS, COLUMNS_ADDED_LATER, decode_changes, row_values

DB_NAME = "results.sqlite"
#: held by the process evaluating into a run folder (its workers share it)
LOCK_NAME = ".evaluate.lock"

#: what to do with a database SQLite itself cannot read
_DAMAGED = ("onepixel cannot repair a damaged database: evaluate into another --out folder "
            "(the sqlite3 shell's .recover may salvage its rows)")


def _recovery(folder: Path) -> str:
    return (f"run `onepixel check {folder} --repair` to set the unreadable rows aside (they are attacked again), "
            "or evaluate into another --out folder")


class ResultStore:
    """The results of one run folder.

    Opening it with a ``config`` checks the store before anything is attacked: a database SQLite cannot read, a
    row that cannot be decoded, or rows without a stored configuration are refused with a one-line
    :class:`InputError` that says how to recover, and a different configuration is refused unless the store
    holds no attack yet (a refused or failed start then never blocks the corrected command)."""

    def __init__(self, folder: str | Path, config: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.db = _connect(self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: committed rows survive a killed process
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            cols = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
            self.db.execute(f"CREATE TABLE IF NOT EXISTS attacks ({cols})")
            have = {r[1] for r in self.db.execute("PRAGMA table_info(attacks)")}
            for name in COLUMNS_ADDED_LATER:
                if name not in have:
                    self.db.execute(f"ALTER TABLE attacks ADD COLUMN {name} {COLUMNS[name]}")
            self.db.commit()
        except (sqlite3.Error, OSError) as e:
            raise _store_error(self.folder, e) from None
        if config is not None:
            size = config.get("input_size") if config.get("space", "input") == "input" else None
            self._check_integrity(size)
            self._check_config(config)

    @property
    def config(self) -> dict[str, Any]:
        row = self.db.execute("SELECT value FROM meta WHERE key='config'").fetchone()
        if not row:
            return {}
        try:
            config = json.loads(row[0])
        except ValueError:
            config = None
        if not isinstance(config, dict):
            raise InputError(f"{self.folder}: the stored configuration is corrupt (not a JSON object); the run "
                             "cannot be resumed safely: evaluate into another --out folder")
        return config

    def _check_integrity(self, size: tuple[int, int] | None = None) -> None:
        """Refuse a store SQLite finds damaged, or with rows that cannot be decoded: new results must not be
        mixed into it (report and verify still read the good rows)."""
        try:
            verdict = self.db.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.Error as e:
            raise _store_error(self.folder, e) from None
        if verdict != "ok":
            raise InputError(f"{self.path} is damaged (SQLite: {verdict.splitlines()[0]}); {_DAMAGED}")
        bad = corrupt_rows(self.db, size)
        if bad:
            uid, why = bad[0]
            raise InputError(f"{self.path} has {len(bad)} unreadable row(s), e.g. {uid}: {why}; {_recovery(self.folder)}")

    def _check_config(self, config: dict[str, Any]) -> None:
        old = self.config
        rows = self.db.execute("SELECT COUNT(*) FROM attacks").fetchone()[0]
        if not old and rows:  # the configuration was lost: these rows could belong to any settings
            raise InputError(f"{self.folder} holds {rows} attacks but no stored configuration, so they cannot be "
                             "matched to these settings; evaluate into another --out folder")
        if not rows:  # nothing attacked yet: the store takes this configuration (a failed start left the old one)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)", (json.dumps(config, sort_keys=True),))
            self.db.commit()
            return
        current = upgraded(old)  # an older store's configuration in today's form
        diff = differences(current, config)
        if diff:
            shown = "; ".join(f"{k}: {a!r} here vs {b!r} now" for k, a, b in diff[:4])
            raise InputError(f"{self.folder} holds a run with a different configuration ({shown}); "
                             "use another --out folder or the same settings to resume")
        filled = with_implied(current, config)
        if filled != old:  # record the upgraded config so later checks compare every setting
            self.db.execute("UPDATE meta SET value=? WHERE key='config'", (json.dumps(filled, sort_keys=True),))
            self.db.commit()

    def done_uids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT uid FROM attacks")}

    def progress(self) -> tuple[int, int, int]:
        """``(attacks, successes, queries)`` stored so far (also those other processes stored)."""
        count, succ, queries = self.db.execute("SELECT COUNT(*), SUM(success), SUM(queries) FROM attacks").fetchone()
        return int(count), int(succ or 0), int(queries or 0)

    def add(self, row: dict[str, Any]) -> None:
        """Append one finished attack (committed at once). A full disk or a read-only store ends the run with a
        one-line error; the attacks committed before stay stored and a re-run resumes after them."""
        vals = row_values(row)
        try:
            self.db.execute(f"INSERT OR REPLACE INTO attacks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                            vals)
            self.db.commit()
        except (sqlite3.Error, OSError) as e:
            raise _store_error(self.folder, e, stored=self.progress_or_none()) from None

    def progress_or_none(self) -> int | None:
        try:
            return self.progress()[0]
        except sqlite3.Error:
            return None

    def add_many(self, rows: list[dict[str, Any]]) -> int:
        """Append finished attacks in one transaction, skipping any whose uid is already stored (an attack that
        ran twice, e.g. retried after its worker was lost, keeps its first row); returns how many were new."""
        vals = [row_values(r) for r in rows]
        before = self.db.total_changes
        self.db.executemany(f"INSERT OR IGNORE INTO attacks ({', '.join(COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(COLUMNS))})", vals)
        self.db.commit()
        return self.db.total_changes - before

    def close(self) -> None:
        self.db.close()


def _connect(path: Path) -> sqlite3.Connection:
    """The store's connection (worker processes share the store: wait up to a minute for a writer)."""
    return sqlite3.connect(path, timeout=60)


def _store_error(folder: Path, e: BaseException, stored: int | None = None) -> InputError:
    """A one-line message for what SQLite or the file system said about a run folder's store."""
    text = str(e).lower()
    kept = ("" if stored is None else f"the {stored} attacks stored so far are kept; ")
    if "full" in text or getattr(e, "errno", None) == errno.ENOSPC:
        return InputError(f"the disk holding {folder} is full; {kept}free some space and re-run the same command "
                          "to resume")
    if "readonly" in text or "read-only" in text or getattr(e, "errno", None) in (errno.EROFS, errno.EACCES, errno.EPERM):
        return InputError(f"{folder} is read-only ({e}); {kept}copy the run folder somewhere writable and resume there")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return InputError(f"{folder / DB_NAME} is not a readable results database ({e}); {_DAMAGED}")
    if "unable to open" in text:
        return InputError(f"cannot open {folder / DB_NAME} ({e}); check that the folder exists and is writable")
    return InputError(f"the results store in {folder} failed ({type(e).__name__}: {e}); {kept}re-run to resume")


def corrupt_rows(db: sqlite3.Connection, size: tuple[int, int] | None = None) -> list[tuple[str, str]]:
    """``(uid, what is wrong)`` of each stored attack whose changes cannot be decoded (or lie outside a
    ``size`` = (height, width) image)."""
    bad = []
    for uid, text in db.execute("SELECT uid, changes FROM attacks"):
        try:
            decode_changes(text, size)
        except (ValueError, TypeError) as e:
            bad.append((str(uid), str(e)))
    return bad


def load_results(folder: str | Path):
    """All finished attacks of a run folder as a pandas DataFrame (``changes`` decoded from JSON);
    the run's configuration is in ``df.attrs["config"]``. Rows whose changes cannot be decoded are left out
    and listed as ``(uid, what is wrong)`` in ``df.attrs["corrupt"]`` (reports and verify say how many).

    ``first_success_query`` is a nullable integer: missing for failures, and for successes stored before it
    was recorded (then only ``queries``, where the attack stopped, bounds it from above)."""
    import pandas as pd

    path = Path(folder) / DB_NAME
    if not path.is_file():
        raise InputError(f"{folder} is not a run folder (no {DB_NAME}); create one with `onepixel evaluate --out {folder}`")
    try:
        db = _read_only(path)
        try:
            df = pd.read_sql_query("SELECT * FROM attacks ORDER BY pixels, image, target", db)
            row = db.execute("SELECT value FROM meta WHERE key='config'").fetchone()
        finally:
            db.close()
    except (sqlite3.Error, pd.errors.DatabaseError) as e:
        cause = e.__cause__ if isinstance(e.__cause__, sqlite3.Error) else e
        raise _store_error(Path(folder), cause) from None
    try:
        config = json.loads(row[0]) if row else {}
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise InputError(f"{folder}: the stored configuration is corrupt (not a JSON object); its attacks cannot be "
                         "told apart from another run's")
    size = config.get("input_size") if config.get("space", "input") == "input" else None
    decoded: list[list[list[int]] | None] = []
    corrupt: list[tuple[str, str]] = []
    for uid, text in zip(df["uid"], df["changes"], strict=True):
        try:
            decoded.append(decode_changes(text, size))
        except (ValueError, TypeError) as e:
            decoded.append(None)
            corrupt.append((str(uid), str(e)))
    df["changes"] = decoded
    if corrupt:
        df = df[df["changes"].notna()].reset_index(drop=True)
    df["success"] = df["success"].astype(bool)
    df["target"] = df["target"].astype("Int64")
    for name in COLUMNS_ADDED_LATER:  # a store from before the column (opened read-only: not migrated)
        df[name] = df[name].astype("Int64") if name in df else pd.array([pd.NA] * len(df), dtype="Int64")
    df.attrs["config"] = upgraded(config)
    df.attrs["corrupt"] = corrupt
    return df


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; a WAL database in a read-only folder (no -shm file to create) is read as
    immutable instead, which is safe because nothing can write there either."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        return db
    except sqlite3.OperationalError as e:
        db.close()
        if "unable to open" not in str(e).lower() or os.access(path.parent, os.W_OK):
            raise
    return sqlite3.connect(f"file:{path}?immutable=1", uri=True)


def check_run(folder: str | Path) -> list[tuple[str, str]]:
    """``(uid, what is wrong)`` of each stored attack of a run folder that cannot be read; raises
    :class:`InputError` for a store that cannot be read at all."""
    path = Path(folder) / DB_NAME
    if not path.is_file():
        raise InputError(f"{folder} is not a run folder (no {DB_NAME}); create one with `onepixel evaluate --out {folder}`")
    try:
        db = _read_only(path)
        try:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise InputError(f"{path} is damaged (SQLite: {verdict.splitlines()[0]}); {_DAMAGED}")
            row = db.execute("SELECT value FROM meta WHERE key='config'").fetchone()
            try:
                config = json.loads(row[0]) if row else {}
            except ValueError:
                config = {}
            size = config.get("input_size") if isinstance(config, dict) and config.get("space", "input") == "input" else None
            return corrupt_rows(db, size)
        finally:
            db.close()
    except sqlite3.Error as e:
        raise _store_error(Path(folder), e) from None


def repair_run(folder: str | Path, uids: list[str]) -> Path:
    """Delete the attacks ``uids`` from a run folder's store (a re-run attacks them again), after copying the
    store as it was to ``results.sqlite.bak-N`` beside it; returns the copy's path."""
    folder = Path(folder)
    path = folder / DB_NAME
    with run_lock(folder):
        db = _connect(path)
        try:
            n = 1
            while (backup := folder / f"{DB_NAME}.bak-{n}").exists():
                n += 1
            copy = sqlite3.connect(backup)
            try:
                db.backup(copy)
            finally:
                copy.close()
            db.executemany("DELETE FROM attacks WHERE uid = ?", [(u,) for u in uids])
            db.commit()
        except sqlite3.Error as e:
            raise _store_error(folder, e) from None
        finally:
            db.close()
    return backup


@contextmanager
def run_lock(folder: str | Path, made: list[Path] | None = None) -> Iterator[None]:
    """Hold the run folder for one ``evaluate`` (and its workers): a second one into the same folder is refused
    at once instead of repeating every attack beside the first. The lock is the operating system's, so it is
    released when the process ends in any way (a killed run can be resumed at once). ``made``: the folders
    (deepest first) this run created, removed again if it ends having stored nothing (default: those missing
    now)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        yield
        return
    folder = Path(folder)
    made = missing_folders(folder) if made is None else made
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder, fcntl, made):
        yield


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _tidy(folder: Path, made: list[Path]) -> None:
    """After a run that stored nothing (a start refused once the folder was held, say a dataset split that does
    not exist): the lock file goes, and the folders this run made, so the disk is as it was."""
    try:
        if [p.name for p in folder.iterdir()] == [LOCK_NAME]:
            (folder / LOCK_NAME).unlink()
            for made_here in made:
                made_here.rmdir()  # stops at the first that is not empty (OSError)
    except OSError:  # another run took the folder meanwhile, or it cannot be listed: leave it
        pass


@contextmanager
def _locked(folder: Path, fcntl: Any, made: list[Path]) -> Iterator[None]:
    """The operating system's exclusive lock on the folder's lock file, with this process's id in it; the folder
    is tidied (:func:`_tidy`) while the lock is still held, so no other run's lock file is ever removed."""
    with open(folder / LOCK_NAME, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            raise InputError(f"another onepixel evaluate (pid {holder}) is writing to {folder}; wait for it to "
                             "finish (re-running then resumes), or use more --workers in one run") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            _tidy(folder, made)
            fcntl.flock(f, fcntl.LOCK_UN)
