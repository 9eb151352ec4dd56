"""A campaign's configuration as its store records it, and stores written by older versions read in today's form.

The search is recorded as its name and its own settings (every field it is built from: ``search_settings``), so
a resumed run rebuilds exactly the search that started it. Older stores recorded DE's population, generations,
strategy, F and crossover at the top level, for every search; :func:`upgraded` turns them into the search's
settings as that version built them (DE from those values, the others from their name and ``max_queries``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..errors import InputError
from ..search import BUDGETED, SEARCHES
from ..search.base import Search

#: settings that may differ between a run and its resumption without changing any result
VOLATILE = frozenset({"onepixel_version", "batch_images", "device", "created", "data_path"})
#: settings added after the first release, with what runs made before them implicitly used (``None``: anything,
#: because it was fixed by settings that are compared, e.g. the model's input size by its sha)
ADDED_LATER: dict[str, Any] = {"space": "input", "input_size": None, "loss": "probability"}
#: DE's settings as older stores recorded them, at the top level of every run's configuration
_OLD_DE_KEYS = ("popsize", "generations", "strategy", "mutation", "crossover")
#: settings whose default changed just before stores recorded ``search_settings``: what older stores ran (rs at
#: one pixel walked every corner change before its default became half of them)
_BEFORE_SETTINGS_WERE_RECORDED = {"rs": {"sweep": 1.0}}


def search_name(search: Search) -> str:
    """The name :func:`~onepixel.search.make_search` knows ``search``'s class by (else the class name)."""
    return next((name for name, kind in SEARCHES.items() if type(search) is kind), type(search).__name__)


def search_settings(search: Search) -> dict[str, Any]:
    """A search's own settings: every field it is built from (its dataclass fields, not its state)."""
    if not dataclasses.is_dataclass(search):
        return {}
    return {f.name: getattr(search, f.name) for f in dataclasses.fields(search) if f.init and not f.name.startswith("_")}


def search_config(search: Search) -> dict[str, Any]:
    """``search`` as a configuration records it: its name and its settings in their JSON form."""
    name = search_name(search)
    if name not in SEARCHES:
        raise InputError(f"a campaign runs the searches onepixel.search.SEARCHES names ({', '.join(SEARCHES)}); "
                         f"add {name} there to run it in one")
    return {"search": name, "search_settings": json.loads(json.dumps(search_settings(search)))}


def search_of(config: dict[str, Any]) -> Search:
    """The search a configuration records (today's form, or an older store's through :func:`upgraded`)."""
    config = upgraded(config)
    return SEARCHES[config["search"]](**config["search_settings"])


def upgraded(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` in today's form: an older store's top-level DE settings become ``search_settings``, and a
    setting a search gained since takes its default (which is what the older version ran)."""
    recorded = "search" in config or any(k in config for k in _OLD_DE_KEYS)
    if not recorded or str(config.get("search", "de")) not in SEARCHES:
        return config  # no search recorded (nothing to read it as), or one campaigns do not know
    new = {k: v for k, v in config.items() if k not in _OLD_DE_KEYS}
    name = str(config.get("search", "de"))
    if "search_settings" not in config:
        new["search"] = name
        new["search_settings"] = json.loads(json.dumps(_settings_before_they_were_recorded(name, config)))
    elif isinstance(config["search_settings"], dict):
        new["search_settings"] = {**_defaults(SEARCHES[name]), **config["search_settings"]}
    return new


def _settings_before_they_were_recorded(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The settings of the search a store from before ``search_settings`` ran: DE's as recorded (the paper's
    where one is missing), another search's defaults with its budget from the query cap (as ``make_search``
    built it) and the defaults of that time where they have changed since (:data:`_BEFORE_SETTINGS_WERE_RECORDED`)."""
    settings = _defaults(SEARCHES[name])
    if name == "de":
        return settings | {k: config[k] for k in _OLD_DE_KEYS if k in config}
    if name in BUDGETED and config.get("max_queries") is not None:
        settings["budget"] = int(config["max_queries"])
    return settings | {k: v for k, v in _BEFORE_SETTINGS_WERE_RECORDED.get(name, {}).items() if k in settings}


def _defaults(kind: type) -> dict[str, Any]:
    """The JSON form of a search class's default settings (without building one: CMA-ES needs its package)."""
    out = {}
    for f in dataclasses.fields(kind):
        if f.init and not f.name.startswith("_"):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
    return json.loads(json.dumps(out))


def differences(stored: dict[str, Any], config: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(setting, stored value, requested value)`` of each setting that would change a result; the search's
    settings one by one (``search_settings.popsize``)."""
    old = with_implied(stored, config)
    volatile = set(VOLATILE)
    if old.get("model_sha256") and old.get("model_sha256") == config.get("model_sha256"):
        volatile.add("model")  # the same model file by content, given by another path (another machine)
    a, b = _flat(old), _flat(config)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if k not in volatile and a.get(k) != b.get(k)]


def with_implied(stored: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with the settings added since it was written filled in as :func:`differences` reads them."""
    old = dict(stored)
    for key, implied in ADDED_LATER.items():
        if key not in old and key in config:
            old[key] = config[key] if implied is None else implied
    return old


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    settings = config.get("search_settings")
    if not isinstance(settings, dict):
        return config
    rest = {k: v for k, v in config.items() if k != "search_settings"}
    return rest | {f"search_settings.{k}": v for k, v in settings.items()}
