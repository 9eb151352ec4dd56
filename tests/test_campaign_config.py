"""A campaign's configuration records its search's own settings; stores written before that (top-level DE
settings for every search) open, resume and report, and a clash of settings is still refused by name."""

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import CIFAR_DIR, needs_shared
from onepixel.campaign import evaluate, load_results
from onepixel.campaign.config import search_config, search_of, upgraded
from onepixel.campaign.metrics import run_budget
from onepixel.errors import InputError
from onepixel.report.paper import paper_match
from onepixel.search import CornerSearch, DifferentialEvolution, RandomSearch

DOC_RUNS = sorted(p.parent for p in (Path(__file__).resolve().parents[1] / "docs" / "runs").glob("*/results.sqlite"))
OLD_DE = ("popsize", "generations", "strategy", "mutation", "crossover")


def _as_older_version(run: Path, de: dict) -> dict:
    """Rewrite a run's stored configuration as versions before ``search_settings`` wrote it."""
    db = sqlite3.connect(run / "results.sqlite")
    try:
        config = json.loads(db.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0])
        config.pop("search_settings")
        config.update(de)
        db.execute("UPDATE meta SET value=? WHERE key='config'", (json.dumps(config),))
        db.commit()
    finally:
        db.close()
    return config


def _stored_config(run: Path) -> dict:
    db = sqlite3.connect(run / "results.sqlite")
    try:
        return json.loads(db.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0])
    finally:
        db.close()


def test_the_config_records_every_setting_of_the_search():
    de = DifferentialEvolution(popsize=30, generations=4, mutation=(0.5, 1.0))
    assert search_config(de) == {"search": "de", "search_settings": {
        "popsize": 30, "generations": 4, "strategy": "rand1", "mutation": [0.5, 1.0], "crossover": None}}
    assert search_of(search_config(de)) == de  # the dithering range comes back as a tuple
    rs = RandomSearch(budget=700, elite=8)
    assert search_config(rs)["search_settings"]["elite"] == 8 and search_of(search_config(rs)) == rs
    assert set(search_config(CornerSearch())["search_settings"]) == {"budget", "top", "batch", "levels"}


def test_an_older_config_reads_as_the_search_that_version_ran():
    old = {"search": "rs", "popsize": 400, "generations": 100, "strategy": "rand1", "mutation": 0.5,
           "crossover": None, "max_queries": 1000, "model": "allconv"}
    new = upgraded(old)
    assert not set(OLD_DE) & set(new) and new["model"] == "allconv" and new["max_queries"] == 1000
    assert search_of(new) == RandomSearch(budget=1000, sweep=1.0)  # rs walked every corner change then
    de = upgraded({**old, "search": "de", "popsize": 12, "generations": 3, "max_queries": None})
    assert search_of(de) == DifferentialEvolution(12, 3)
    assert upgraded(de) == de  # today's form stays as it is
    assert upgraded({"model": "allconv", "seed": 0}) == {"model": "allconv", "seed": 0}  # no search recorded
    # a setting a search gained after a store was written takes its default (what that version ran)
    gained = {**de, "search_settings": {k: v for k, v in de["search_settings"].items() if k != "crossover"}}
    assert upgraded(gained) == de


@pytest.mark.parametrize("run", DOC_RUNS, ids=[p.name for p in DOC_RUNS])
def test_the_shipped_runs_read_in_todays_form(run):
    df = load_results(run)
    config, stored = df.attrs["config"], _stored_config(run)
    assert "popsize" in stored and "search_settings" not in stored  # written before search_settings
    search = search_of(config)
    if stored["search"] == "de":
        assert search == DifferentialEvolution(stored["popsize"], stored["generations"], stored["strategy"],
                                               stored["mutation"], stored["crossover"])
        assert run_budget(df) == stored["popsize"] * (stored["generations"] + 1)
    else:
        assert search == RandomSearch(budget=stored["max_queries"], sweep=1.0)
        assert run_budget(df) == stored["max_queries"]
    assert paper_match(config).reason == paper_match(stored).reason  # reports judge them as before


@needs_shared(CIFAR_DIR)
@pytest.mark.parametrize("search,de,changed", [
    ("de", {"popsize": 12, "generations": 2}, {"popsize": 14}),
    ("rs", {}, {"max_queries": 60}),
])
def test_an_older_store_resumes_and_a_clash_is_refused_by_name(tmp_path, search, de, changed):
    settings = {"n": 2, "protocol": "strict", "mode": "untargeted", "search": search, "batch_images": 2,
                "max_queries": None if search == "de" else 50, "progress": False, **de}
    run = tmp_path / "run"
    first = evaluate("resnet20", run, **settings)
    old_de = {"popsize": de.get("popsize", 400), "generations": de.get("generations", 100), "strategy": "rand1",
              "mutation": 0.5, "crossover": None}
    _as_older_version(run, old_de)
    with pytest.raises(InputError, match="different configuration.*search_settings"):
        evaluate("resnet20", run, **{**settings, **changed})
    if search == "rs":  # an older store's rs walked every corner change: today's default (half) is another search
        with pytest.raises(InputError, match="search_settings.sweep: 1.0 here vs 0.5 now"):
            evaluate("resnet20", run, **settings)
        settings["search"] = RandomSearch(budget=50, sweep=1.0)
    again = evaluate("resnet20", run, **settings)  # the search it ran resumes it (nothing left to attack)
    assert len(again) == len(first) and list(again["uid"]) == list(first["uid"])
    stored = _stored_config(run)  # resuming recorded the configuration in today's form
    assert "search_settings" in stored and not set(OLD_DE) & set(stored)
    assert search_of(stored) == search_of(again.attrs["config"])
