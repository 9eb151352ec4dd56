"""The ``onepixel`` command group and its entry point: user errors become one line on stderr (exit 2)."""

from __future__ import annotations

import warnings

import click

from .. import __version__
from ..errors import OnepixelError


class _Group(click.Group):
    """Lists each command with its whole first sentence (click cuts it at ~45 characters)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cmd.get_short_help_str(limit=10_000)) for name in self.list_commands(ctx)
                if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="onepixel")
def cli() -> None:
    """Few-pixel black-box adversarial attacks on image classifiers (Su, Vargas & Sakurai's one-pixel attack).

    New here? `onepixel demo` (about a minute on a laptop CPU) attacks CIFAR-10 images both ways, writes a report
    and prints the next commands with their expected time."""


def _show_note(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """onepixel's notes about the input (what was dropped from an image) as one line, other warnings as usual."""
    from ..imageio import DroppedWarning

    if issubclass(category, DroppedWarning):
        click.echo(f"note: {message}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI and turns user errors into one line on stderr (exit 2), no traceback."""
    warnings.showwarning = _show_note
    try:
        cli.main(args=argv, prog_name="onepixel", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.UsageError as e:  # one line, like every other user error
        if type(e).__name__ == "NoArgsIsHelpError":  # plain `onepixel` (click >= 8.2): the help, not an error
            click.echo(e.format_message())
            return 0
        hint = f" (see: onepixel {e.ctx.info_name} --help)" if e.ctx is not None and e.ctx.info_name != "onepixel" else ""
        click.echo(f"error: {e.format_message()}{hint}", err=True)
        return 2
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except (OnepixelError, OSError) as e:
        msg = str(e) if isinstance(e, OnepixelError) else f"{e.strerror or e}: {e.filename}" if getattr(e, "filename", None) else str(e)
        click.echo(f"error: {msg}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except SystemExit as e:  # a command's own verdict (verify, check: exit 1)
        return e.code if isinstance(e.code, int) else 1
    return 0
