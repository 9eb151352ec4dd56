"""The Ray actor of a campaign: it loads the model once and runs the batches the driver (:mod:`.ray_backend`) hands
it, keeping each batch's finished attacks as rows for the driver to collect. It never touches the store."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OnepixelError
from ..progress import progress_bar
from .protocol import WorkUnit


class _Images:
    """The images a batch shipped, looked up by their dataset index as ``evaluate`` looks them up."""

    def __init__(self, index: list[int], images: Any) -> None:
        self.by_index = {i: images[j] for j, i in enumerate(index)}

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, np.ndarray):
            return np.stack([self.by_index[int(i)] for i in key])
        return self.by_index[int(key)]


class _Rows:
    """Stands in for the store inside an actor: the rows of the batch's finished attacks, for the driver to
    read while the batch runs. Reads give rows from an offset and never remove any, so a reply the driver
    never received loses nothing."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batch = -1
        self.rows: list[dict[str, Any]] = []

    def start(self, batch: int) -> None:
        with self.lock:
            self.batch, self.rows = batch, []

    def add(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.rows.append(row)

    def since(self, batch: int, offset: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.rows[offset:]) if batch == self.batch else []


def load_model_spec(spec: dict[str, Any], options: dict[str, Any]) -> Any:
    """The classifier a model spec names: a zoo name, or a file's bytes checked against their sha256 (written
    into a private folder under the file's own name, since formats are told by suffix and content)."""
    from ..api import as_classifier

    if "zoo" in spec:
        return as_classifier(spec["zoo"], **options)
    data = spec["bytes"]
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec["sha256"]:
        raise OnepixelError(f"the model file {spec['name']} arrived with sha256 {digest[:12]}…, "
                            f"not {spec['sha256'][:12]}…")
    folder = Path(tempfile.mkdtemp(prefix="onepixel-model-"))
    path = folder / spec["name"]
    path.write_bytes(data)
    return as_classifier(str(path), **options)


class AttackActor:
    """Loads the model once and runs batches of attacks; ``poll`` hands over the attacks finished so far while a
    batch runs (the actor runs with two threads: one attacking, one answering the driver)."""

    def __init__(self, model: dict[str, Any], options: dict[str, Any], threads: int) -> None:
        self.error: str | None = None
        self.rows = _Rows()
        # queries of the batch in flight so far (its finished attacks included), the total it is expected to spend,
        # the most it can spend
        self.live = [0, 0, 0]
        try:
            os.environ["OMP_NUM_THREADS"] = str(threads)  # TFLite and ONNX Runtime read it when they load
            import torch

            torch.set_num_threads(threads)
            if "bytes" in model and not isinstance(model["bytes"], bytes):  # the file's bytes in Ray's object store
                import ray

                model = {**model, "bytes": ray.get(model["bytes"])}
            self.clf = load_model_spec(model, options)
        except Exception as e:  # reported by ready(): the driver stops the run with it instead of retrying
            self.error = str(e) if isinstance(e, OnepixelError) else f"{type(e).__name__}: {e}"

    def ready(self) -> str | None:
        """``None`` when the model loaded, else why not."""
        return self.error

    def run(self, batch: int, job: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """Attack one batch; returns all its rows and its search queries."""
        from ..data.datasets import Dataset
        from .batches import run_batch
        from .config import search_of

        units = [WorkUnit(*u) for u in job["units"]]
        data = Dataset("shipped", _Images(job["index"], job["images"]), np.zeros(0, np.int64))
        stats: dict[str, Any] = {"success": 0, "done": 0, "total": len(units), "spent": 0, "unstarted": 0,
                                 "bar_offset": 0, "live": (self.live, 0)}
        self.rows.start(batch)
        self.live[0] = 0
        bar = progress_bar(len(units), "attack", "actor", disable=True)
        rows: Any = self.rows  # what run_batch needs of a store: add(row)
        run_batch(self.clf, data, units, rows, search_of(job), job["max_queries"], bar, stats, job["file_space"],
                  job.get("loss", "probability"))
        return self.rows.since(batch, 0), int(stats["spent"])

    def poll(self, batch: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """The rows of ``batch`` finished after the first ``offset``, and its queries so far (in flight too)."""
        return self.rows.since(batch, offset), int(self.live[0])
