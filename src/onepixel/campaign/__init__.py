"""Campaigns: the paper's evaluation protocols as resumable lists of attacks, their store and metrics."""

from .evaluate import evaluate
from .metrics import summarize
from .protocol import WorkUnit, make_units
from .store import ResultStore, check_run, load_results, repair_run
from .verify import Verification, verification_line, verify_run

__all__ = ["ResultStore", "Verification", "WorkUnit", "check_run", "evaluate", "load_results", "make_units", "repair_run",
           "summarize", "verification_line", "verify_run"]
