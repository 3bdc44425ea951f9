"""How many containers of each process type app.json asks for (``formation``), as
Heroku and Dokku read it: ``{"formation": {"worker": {"quantity": 2}}}``."""

from __future__ import annotations

from hostctl.core.yaml_sections import Section
from hostctl.stack.appjson import load_json

MAX_QUANTITY = 20  # containers of one process type on one box


def formation_from_app_json(text: str) -> dict[str, int]:
    formation = Section("app.json", load_json(text, "app.json")).section("formation")
    if formation is None:
        return {}
    counts = {}
    for process in formation.data:
        entry = formation.section(str(process))
        quantity = entry.integer("quantity", 1, 0, MAX_QUANTITY) if entry else 1
        counts[str(process)] = 1 if quantity is None else quantity
    return counts
