"""The ``onepixel`` command line: parse, call the API, print. User errors become one-line messages.

One module per command group; each registers its commands on the group in :mod:`.app` when imported here.
"""

from . import attack_command, campaign_commands, demo_command, report_commands, zoo_commands  # noqa: F401
from .app import cli, main
from .attack_command import attack, attack_record
from .campaign_commands import evaluate, verify
from .demo_command import demo
from .options import SEARCHES, cli_search, resolve_search, search_options
from .report_commands import check, report
from .zoo_commands import models, train

__all__ = ["SEARCHES", "attack", "attack_record", "check", "cli", "cli_search", "demo", "evaluate", "main", "models",
           "report", "resolve_search", "search_options", "train", "verify"]
