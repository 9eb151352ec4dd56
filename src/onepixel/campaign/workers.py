"""Worker processes sharing one campaign: each runs ``evaluate`` on every ``workers``-th attack and writes to the
same store; the parent shows their joint progress and stops them all when one fails."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from ..errors import OnepixelError
from ..progress import query_bar, show_queries
from .store import ResultStore


def attack_status(finished: int, total: int, fooled: int) -> str:
    return f"attacks {finished:,}/{total:,}, {fooled:,} fooled"



def run_workers(call: dict[str, Any], workers: int, store: ResultStore, total: int, already: int,
                 progress: bool) -> None:
    """Run ``evaluate`` in ``workers`` processes, each on every ``workers``-th attack, and show their joint
    progress from the store. A failing worker stops the others; finished attacks stay stored either way."""
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no forked torch thread pools
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by torch, TFLite and ONNX Runtime in the children
    try:
        # per worker: its search queries so far (finished attacks and those in flight), the total it is expected
        # to spend, and the most it can spend
        live = ctx.Array("q", 3 * workers, lock=False)
        procs = [ctx.Process(target=_worker, args=(call, i, workers, threads, live)) for i in range(workers)]
        for p in procs:
            p.start()
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    _, _, stored_queries = store.progress()
    bar = query_bar(f"evaluate ({workers} workers)", initial=stored_queries, disable=not progress)
    try:
        while any(p.is_alive() for p in procs) and not any(p.exitcode for p in procs):
            time.sleep(0.5)
            count, successes, _ = store.progress()
            spent, expected, most = sum(live[0::3]), sum(live[1::3]), sum(live[2::3])
            if all(live[2::3]):  # every worker has planned its share
                show_queries(bar, stored_queries + spent, stored_queries + expected, stored_queries + most,
                             attack_status(count, total, successes))
    finally:
        # the workers that ended on their own, before the others are stopped (those are not failures)
        ended = {i: p.exitcode for i, p in enumerate(procs) if not p.is_alive()}
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
        bar.close()
    failed = {i: code for i, code in ended.items() if code}
    if failed:
        raise OnepixelError(f"{'; '.join(_worker_end(i, code) for i, code in failed.items())}; the attacks finished "
                            "are stored: re-run the same command to resume")


def _worker_end(index: int, code: int) -> str:
    """How a worker process ended, in words (a signal has no message of its own to show)."""
    import signal

    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else f"signal {-code}"
        why = " (out of memory, or killed by hand?)" if -code == signal.SIGKILL else ""
        return f"worker {index} was killed by {name}{why}"
    if code == 2:
        return f"worker {index} stopped with the error above"
    return f"worker {index} failed with exit status {code} (its messages are above)"


def _worker(call: dict[str, Any], index: int, workers: int, threads: int, live: Any) -> None:
    import torch

    from .evaluate import evaluate

    _exit_with_parent()
    torch.set_num_threads(threads)
    try:
        evaluate(**call, progress=False, _shard=(index, workers), _live=(live, index))
    except OnepixelError as e:
        print(f"onepixel: worker {index}: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C reaches every process of the group; the parent reports it once
        sys.exit(130)


def _exit_with_parent() -> None:
    """End this worker as soon as its parent is gone. A parent killed outright (SIGKILL, SIGTERM) cannot stop
    its workers, and an orphan would go on attacking beside a resumed run of the same store. Its attacks in
    flight are lost; the finished ones are already stored (SQLite rolls back an interrupted write)."""
    import multiprocessing as mp
    import threading

    parent = mp.parent_process()
    if parent is None:
        return

    def wait_then_exit() -> None:
        parent.join()  # returns when the parent's sentinel closes, i.e. when it has exited
        os._exit(3)

    threading.Thread(target=wait_then_exit, daemon=True, name="exit-with-parent").start()
