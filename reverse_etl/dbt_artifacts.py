"""dbt's artifacts: resolve a model name to the relation dbt built, from ``target/manifest.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class Relation:
    database: str | None
    schema: str
    name: str

    def __str__(self) -> str:
        return ".".join(p for p in (self.schema, self.name))


def parse_relation(text: str) -> Relation:
    """``schema.table`` or ``database.schema.table`` (as written in a manifest's ``relation:``)."""
    parts = [p.strip().strip('"') for p in text.split(".")]
    if len(parts) == 2 and all(parts):
        return Relation(None, parts[0], parts[1])
    if len(parts) == 3 and all(parts):
        return Relation(parts[0], parts[1], parts[2])
    raise ConfigError(f"relation {text!r} must be schema.table (or database.schema.table).")


class DbtManifest:
    """The models of a dbt project's last parse, by name (latest version wins for versioned models)."""

    def __init__(self, project_dir: Path, target_path: str = "target"):
        self.path = project_dir / target_path / "manifest.json"
        self._models: dict[str, dict] | None = None

    def _load(self) -> dict[str, dict]:
        if self._models is None:
            try:
                data = json.loads(self.path.read_text())
            except FileNotFoundError:
                raise ConfigError(
                    f"{self.path} does not exist: run `dbt build` (or `dbt parse`) first, or give the sync an "
                    f"explicit `relation: schema.table`."
                ) from None
            except ValueError:
                raise ConfigError(f"{self.path} is not valid JSON: run `dbt parse` again.") from None
            models: dict[str, dict] = {}
            for node in data.get("nodes", {}).values():
                if node.get("resource_type") != "model":
                    continue
                current = models.get(node["name"])
                if current is None or (node.get("version") or 0) >= (current.get("version") or 0):
                    models[node["name"]] = node
            self._models = models
        return self._models

    def relation(self, model: str) -> Relation:
        node = self._load().get(model)
        if node is None:
            names = sorted(self._load())
            raise ConfigError(
                f"Model {model!r} is not in {self.path} ({len(names)} models there"
                + (f", e.g. {', '.join(names[:5])}" if names else "") + "): check the name, or run `dbt parse`."
            )
        return Relation(node.get("database"), node["schema"], node.get("alias") or node["name"])

    def node(self, model: str) -> dict:
        self.relation(model)
        return self._load()[model]
