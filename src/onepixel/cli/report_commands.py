"""``onepixel report`` and ``onepixel check``: reports of run folders, and their stores' health."""

from __future__ import annotations

from pathlib import Path

import click

from .app import cli


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder [default: the first run folder].")
@click.option("--gallery", default=8, show_default=True, help="Adversarial examples shown per run.")
@click.option("--embed", is_flag=True, help="Put the figures into report.html (one file to send) instead of linking "
                                            "the PNG files in report_files/.")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Where the runs' images are here, for runs whose stored data folder is elsewhere (the gallery).")
def report(runs: tuple[Path, ...], out: Path | None, gallery: int, embed: bool, data: Path | None) -> None:
    """Write report.html and report.md for one or more run folders, with every figure (PNG, SVG, PDF) and table
    (CSV, LaTeX) in report_files/."""
    from ..campaign.store import check_run
    from ..inputs import check_writable_folder
    from ..report import write_report

    unreadable = {r: check_run(r) for r in runs}  # a folder that holds no run: refused before any folder is made
    check_writable_folder(out or runs[0], "--out" if out else "the report folder (first run; or give --out)")
    html, md = write_report(list(runs), out or runs[0], gallery=gallery, embed=embed, data_path=data)
    for r, bad in unreadable.items():
        if bad:
            click.echo(f"{r}: skipped {len(bad)} unreadable stored attack(s), e.g. {bad[0][0]} ({bad[0][1]}); "
                       f"see: onepixel check {r}")
    click.echo(f"wrote {html}\nwrote {md}\nfigures (PNG, SVG, PDF) and tables (CSV, LaTeX): {html.parent / 'report_files'}")


@cli.command()
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--repair", is_flag=True, help="Move the unreadable attacks out of the store (into a backup copy "
                                             "beside it) so that re-running evaluate attacks them again.")
def check(run: Path, repair: bool) -> None:
    """Check a run folder's store: list the stored attacks that cannot be read; exit 1 if there are any."""
    from ..campaign.store import check_run, repair_run

    bad = check_run(run)
    if not bad:
        click.echo(f"{run}: every stored attack is readable")
        return
    for uid, why in bad:
        click.echo(f"  {uid}: {why}")
    if repair:
        backup = repair_run(run, [uid for uid, _ in bad])
        click.echo(f"{run}: removed {len(bad)} unreadable attack(s) (a copy of the store before is {backup}); "
                   "re-run the same `onepixel evaluate` command to attack them again")
        return
    click.echo(f"{run}: {len(bad)} unreadable stored attack(s); `onepixel check {run} --repair` sets them aside")
    raise SystemExit(1)
