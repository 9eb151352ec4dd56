"""Campaigns on a Ray cluster: the attacks of ``evaluate`` run by Ray actors, stored by the driver.

The driver (the process running ``onepixel evaluate --ray``) owns the run folder: it cuts the attacks still to do
into batches (one pixel count and mode each, as in one process), hands them to actors that each load the model
once, and writes every finished attack into the same SQLite store as a local run. Actors never touch the store,
so a run can start locally, continue on Ray and finish locally (or the reverse), and an actor left over from a
killed driver cannot write twice.

What travels is plain data: the model as its zoo name or its file's bytes with their sha256 (checked by the actor
before loading; never a pickled model), images as numpy arrays, attacks as lists of integers, the search as the
run's configuration records it, results as dicts. The actor is :mod:`.ray_actor`; this module is the driver.

Faults: an actor or node lost mid-batch loses only its attacks in flight. The driver stores what the actor
reported finished, gives the rest of the batch to another actor and starts a replacement where the cluster has
room. Writes are keyed by the attack's uid and ignore a uid already stored, so an attack is never stored twice,
and an attack's result depends only on its image, settings and seed, so a retried attack gives the same result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OnepixelError
from ..progress import progress_bar, show_status
from .protocol import WorkUnit
from .ray_actor import AttackActor
from .store import ResultStore

RAY_MISSING = "--ray needs Ray, which is not installed: pip install 'onepixel[ray]'"
# A batch whose actor died this many times stops the run (a batch that kills every actor it meets, e.g. by
# running out of memory, must not go round the cluster forever).
MAX_ATTEMPTS = 4


@dataclass
class RayOptions:
    """Where and how a campaign runs on Ray.

    Attributes:
        address: a cluster to join (``host:port``, ``ray://host:port`` or ``auto``); ``None``: the cluster in
            ``RAY_ADDRESS`` if set (as inside ``ray job submit``), else a new local Ray instance.
        actors: actors to start; ``None``: as many as the cluster's CPUs (or GPUs) hold at ``cpus`` (``gpus``)
            each, and never more than there are batches.
        cpus: CPUs reserved per actor; also its threads (rounded down, at least 1).
        gpus: GPUs per actor (0.5: two actors share a GPU); > 0 runs the model on the actor's GPU.
        start_timeout: seconds to wait for at least one actor to start (the cluster may be busy or scaling up)
            before giving up; the attacks stored so far stay stored.
        init_options: extra ``ray.init`` arguments for a local instance (e.g. ``object_store_memory``).
    """

    address: str | None = None
    actors: int | None = None
    cpus: float = 1.0
    gpus: float = 0.0
    start_timeout: float = 600.0
    init_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: bool | str | RayOptions) -> RayOptions:
        """``True`` (local or ``RAY_ADDRESS``), an address, or options as they are."""
        if isinstance(spec, RayOptions):
            return spec
        if spec is True or spec == "":
            return cls()
        if isinstance(spec, str):
            return cls(address=spec)
        raise InputError(f"ray must be True, a cluster address or RayOptions (got {spec!r})")

    def check(self) -> None:
        if self.cpus <= 0 or self.gpus < 0 or (self.actors is not None and self.actors < 1):
            raise InputError(f"Ray actors need cpus > 0, gpus >= 0 and actors >= 1 (got cpus={self.cpus}, "
                             f"gpus={self.gpus}, actors={self.actors})")
        if self.gpus > 1 and self.gpus != int(self.gpus):
            raise InputError(f"--ray-gpus is a fraction of one GPU or a whole number of GPUs (got {self.gpus})")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError(RAY_MISSING) from None
    return ray


def check_ray_call(spec: Any, model: Any, workers: int) -> None:
    """Refuse what cannot run on Ray before any work: Ray missing, bad options, a model object."""
    RayOptions.of(spec).check()
    import_ray()
    if workers > 1:
        raise InputError("--workers and --ray exclude each other: on Ray, --ray-actors sets how many attack at once")
    if not isinstance(model, (str, Path)):
        raise InputError("--ray needs the model as a zoo name or a model file (each actor loads its own copy)")


# --- the driver --------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Slot:
    """One actor as the driver sees it: starting (``ready`` pending), idle, or running ``batch``."""

    handle: Any
    ready: Any  # ObjectRef of ready(), None once started
    batch: list[WorkUnit] | None = None
    batch_id: int = -1
    run: Any = None  # ObjectRef of run()
    poll: Any = None  # ObjectRef of the pending poll(), if any
    poll_batch: int = -1  # the batch that poll asked about
    received: int = 0  # rows of the batch received so far
    live: int = 0  # the batch's queries so far


def connect(opts: RayOptions) -> bool:
    """Join the cluster of ``opts.address`` or ``RAY_ADDRESS``, or start a local instance; True if this call
    initialised Ray (and so shuts it down at the end). A Ray session the caller opened is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = opts.address or os.environ.get("RAY_ADDRESS") or None
    common = {"logging_level": logging.WARNING, "log_to_driver": True}
    try:
        if address:
            ray.init(address=address, **common)
        else:  # a fresh local instance, never a stale one found in /tmp/ray
            local = {"include_dashboard": False, **opts.init_options}
            try:
                ray.init(address="local", **common, **local)
            except Exception as e:  # Ray gives its raylet 30 s to start: a busy machine may need a second try
                if "timed out during startup" not in str(e):
                    raise
                ray.shutdown()
                ray.init(address="local", **common, **local)
    except ConnectionError as e:
        raise InputError(f"cannot reach the Ray cluster at {address}: {e}; start it with `ray start --head` "
                         "or drop the address to run on a local Ray instance") from None
    return True


def _model_spec(ray: Any, model: Any) -> dict[str, Any]:
    from .. import zoo

    if isinstance(model, str) and model.lower() in zoo.names():
        return {"zoo": model.lower()}
    path = Path(model)
    if not path.is_file():
        raise InputError(f"--ray needs the model as a zoo name or a model file (got {model!r})")
    data = path.read_bytes()
    return {"name": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": ray.put(data)}


def _batches(todo: list[WorkUnit], batch_images: int) -> list[list[WorkUnit]]:
    """The attacks in batches of one pixel count and mode, in the order one process runs them."""
    from .batches import group_units

    groups = group_units(todo)
    return [units[i : i + batch_images] for units in groups.values() for i in range(0, len(units), batch_images)]


def _actor_count(ray: Any, opts: RayOptions, batches: int) -> int:
    if opts.actors is not None:
        return min(opts.actors, batches)
    res = ray.cluster_resources()
    fit = res.get("GPU", 0) / opts.gpus if opts.gpus > 0 else res.get("CPU", 1) / opts.cpus
    return max(1, min(int(fit + 1e-9), batches))


def run_on_ray(spec: bool | str | RayOptions, model: Any, model_options: dict[str, Any], images: Any,
               todo: list[WorkUnit], total: int, store: ResultStore, batch_images: int, job: dict[str, Any],
               progress: bool = True) -> None:
    """Run the attacks ``todo`` on Ray actors and store each finished one in ``store``.

    ``images`` are the dataset's (model-input) images by index; ``job`` holds the search as the run's
    configuration records it (``search``, ``search_settings``), ``max_queries`` and ``file_space``; ``total`` is the campaign's attack count
    (for the progress bar)."""
    opts = RayOptions.of(spec)
    opts.check()
    ray = import_ray()
    started = connect(opts)
    try:
        _Driver(ray, opts, model, model_options, images, todo, total, store, batch_images, job, progress).run()
    finally:
        if started:
            ray.shutdown()


class _Driver:
    """Hands batches to actors, stores what they finish, replaces lost actors and shows the progress."""

    def __init__(self, ray: Any, opts: RayOptions, model: Any, model_options: dict[str, Any], images: Any,
                 todo: list[WorkUnit], total: int, store: ResultStore, batch_images: int, job: dict[str, Any],
                 progress: bool) -> None:
        self.ray, self.opts, self.images, self.store, self.job = ray, opts, images, store, job
        self.stored = store.done_uids()
        self.queue: deque[tuple[int, list[WorkUnit]]] = deque(enumerate(_batches(todo, batch_images)))
        self.attempts: dict[int, int] = {}
        options = dict(model_options)
        if opts.gpus > 0:  # the actor's own GPU (Ray sets CUDA_VISIBLE_DEVICES for it)
            options["device"] = "cuda"
        threads = max(1, int(opts.cpus))
        remote = ray.remote(AttackActor).options(num_cpus=opts.cpus, num_gpus=opts.gpus, max_concurrency=2,
                                                 max_restarts=0)
        spec = _model_spec(ray, model)
        self.new_actor = lambda: remote.remote(spec, options, threads)
        self.slots = [self._start() for _ in range(_actor_count(ray, opts, len(self.queue)))]
        self.bar = progress_bar(total, "attack", self._desc(), total - len(todo), disable=not progress)
        self.t0 = self.last_up = time.perf_counter()
        self.finished_queries = 0  # search queries of the batches finished here
        self.failed_starts = 0  # actors lost before they started, since the last one started

    def _start(self) -> _Slot:
        handle = self.new_actor()
        return _Slot(handle, handle.ready.remote())

    def _desc(self) -> str:
        up = sum(s.ready is None for s in self.slots)
        return f"evaluate (Ray, {up}/{len(self.slots)} actors)"

    def run(self) -> None:
        try:
            while self.queue or any(s.batch is not None for s in self.slots):
                self._dispatch()
                self._wait(1.0)
                self._show()
                self._check_alive()
        finally:
            for s in self.slots:
                self.ray.kill(s.handle)
            self.bar.close()

    def _dispatch(self) -> None:
        for s in self.slots:
            while s.ready is None and s.batch is None and self.queue:
                batch_id, batch = self.queue.popleft()
                batch = [u for u in batch if u.uid not in self.stored]  # a retried batch: only what is missing
                if batch:
                    s.batch, s.batch_id, s.received, s.live = batch, batch_id, 0, 0
                    s.run = s.handle.run.remote(batch_id, self._payload(batch))

    def _payload(self, batch: list[WorkUnit]) -> dict[str, Any]:
        index = sorted({u.image for u in batch})
        shipped = [np.asarray(self.images[i]) for i in index]  # one by one: photos may differ in size
        units = [[u.image, u.label, u.pixels, u.target, u.seed] for u in batch]
        return {"units": units, "index": index, "images": shipped, **self.job}

    def _wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for actors starting, batches ending and the finished attacks of running
        batches (asked for once per call), and act on each."""
        for s in self.slots:
            if s.batch is not None and s.poll is None:
                s.poll, s.poll_batch = s.handle.poll.remote(s.batch_id, s.received), s.batch_id
        waiting: dict[Any, tuple[str, _Slot]] = {}
        for s in self.slots:
            if s.ready is not None:
                waiting[s.ready] = ("ready", s)
            if s.run is not None:
                waiting[s.run] = ("run", s)
            if s.poll is not None:
                waiting[s.poll] = ("poll", s)
        if not waiting:
            time.sleep(timeout)
            return
        done, _ = self.ray.wait(list(waiting), num_returns=len(waiting), timeout=timeout)
        for ref in done:
            kind, s = waiting[ref]
            if not any(x is s for x in self.slots):  # replaced earlier in this loop
                continue
            try:
                result = self.ray.get(ref)
            except self.ray.exceptions.RayTaskError as e:  # the attack code failed: no retry repairs that
                raise OnepixelError(f"an attack batch failed on a Ray actor: {e.cause or e}") from None
            except self.ray.exceptions.RayError as e:
                self._lost(s, e)
                continue
            if kind == "ready":
                if result is not None:
                    raise OnepixelError(f"a Ray actor could not load the model: {result}")
                s.ready = None
                self.failed_starts = 0
                self.bar.set_description_str(self._desc(), refresh=False)
            elif kind == "poll":
                s.poll = None
                rows, live = result
                if s.batch is not None and s.poll_batch == s.batch_id:
                    s.live = live
                    s.received += len(rows)
                self._store(rows)
            else:
                rows, queries = result
                self._store(rows)
                self.finished_queries += queries
                s.batch, s.run, s.live = None, None, 0

    def _store(self, rows: list[dict[str, Any]]) -> None:
        fresh = [r for r in rows if r["uid"] not in self.stored]
        if fresh:
            self.store.add_many(fresh)
            self.stored.update(r["uid"] for r in fresh)
            self.bar.update(len(fresh))

    def _lost(self, s: _Slot, error: Exception) -> None:
        """``s``'s actor is gone: its unfinished attacks go back to the queue; a new actor takes its place."""
        if s.ready is not None:  # died before it started: a node lost while starting, or a broken worker
            self.failed_starts += 1
            if self.failed_starts > 2 * len(self.slots) + 2:
                raise OnepixelError(f"Ray actors keep dying before they start ({self.failed_starts} in a row); "
                                    f"the last: {_first_line(error)}")
        if s.batch is not None:
            self.attempts[s.batch_id] = tries = self.attempts.get(s.batch_id, 0) + 1
            if tries >= MAX_ATTEMPTS:
                raise OnepixelError(f"an attack batch lost its Ray actor {tries} times (out of memory?); the "
                                    "finished attacks are stored: re-run to resume, e.g. with --batch-images smaller")
            rest = [u for u in s.batch if u.uid not in self.stored]
            if rest:
                self.queue.appendleft((s.batch_id, rest))
            self.bar.write(f"Ray: an actor was lost ({_first_line(error)}); its {len(rest)} unfinished attacks "
                           "go to another actor", file=sys.stderr)
        self.ray.kill(s.handle)
        self.slots[self.slots.index(s)] = self._start()
        self.bar.set_description_str(self._desc(), refresh=False)

    def _show(self) -> None:
        count, successes, _ = self.store.progress()
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        live = sum(s.live for s in self.slots if s.batch is not None)
        show_status(self.bar, successes, count, (self.finished_queries + live) / elapsed)
        self.bar.update(0)

    def _check_alive(self) -> None:
        """Give up when no actor has been up for ``start_timeout`` s (a cluster without room for one)."""
        now = time.perf_counter()
        if any(s.ready is None for s in self.slots):
            self.last_up = now
        elif now - self.last_up > self.opts.start_timeout:
            need = f"{self.opts.cpus:g} CPU" + (f" and {self.opts.gpus:g} GPU" if self.opts.gpus else "")
            raise OnepixelError(f"no Ray actor was up for {self.opts.start_timeout:.0f} s (each needs {need}; the "
                                f"cluster has {self.ray.available_resources()} free); the finished attacks are "
                                "stored: re-run to resume")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
