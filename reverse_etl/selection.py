"""Which syncs a command acts on (``--select``, like dbt's), and whether dbt's last build allows them.

Selectors, separated by spaces or given several times:

    braze_users         a sync by name
    tag:daily           syncs tagged ``daily``
    model:braze_users   syncs of that dbt model
    +stg_crm__contacts  syncs whose model is that model or downstream of it (dbt's graph, target/manifest.json)

A sync is skipped, with its reason, when ``target/run_results.json`` says its model, or a test on it, failed,
errored or was skipped in the last dbt invocation (``--ignore-dbt-results`` overrides, for emergencies).
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

from .errors import ConfigError
from .manifest import Manifest, SyncConfig

BAD_STATUSES = {"error", "fail", "skipped", "runtime error"}


def _dbt_graph(project_dir: Path) -> tuple[dict, dict]:
    path = project_dir / "target" / "manifest.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist: run `dbt build` (or `dbt parse`) before selecting with + .") from None
    return data.get("nodes", {}), data.get("child_map", {})


def select(manifest: Manifest, selectors: tuple[str, ...], project_dir: Path) -> list[SyncConfig]:
    """The syncs matching any selector (all when none), in manifest order; a selector matching nothing is an error."""
    tokens = [t for s in selectors for t in s.split()]
    if not tokens:
        return list(manifest.syncs.values())
    chosen: set[str] = set()
    for token in tokens:
        matched = _match(manifest, token, project_dir)
        if not matched:
            raise ConfigError(f"--select {token!r} matches no sync of {manifest.path} "
                              f"(syncs: {', '.join(manifest.syncs) or 'none'}).")
        chosen |= matched
    return [s for name, s in manifest.syncs.items() if name in chosen]


def _match(manifest: Manifest, token: str, project_dir: Path) -> set[str]:
    syncs = manifest.syncs.values()
    if token.startswith("tag:"):
        return {s.name for s in syncs if token[4:] in s.tags}
    if token.startswith("model:"):
        return {s.name for s in syncs if s.model == token[6:]}
    if token.startswith("+"):
        models = _downstream_models(token[1:], project_dir)
        return {s.name for s in syncs if s.model in models}
    return {token} if token in manifest.syncs else set()


def _downstream_models(model: str, project_dir: Path) -> set[str]:
    nodes, children = _dbt_graph(project_dir)
    starts = [uid for uid, n in nodes.items() if n.get("resource_type") == "model" and n.get("name") == model]
    if not starts:
        raise ConfigError(f"Model {model!r} is not in {project_dir / 'target' / 'manifest.json'}.")
    return downstream_models(starts, nodes, children)


def downstream_models(starts: list[str], nodes: dict, children: dict) -> set[str]:
    """Names of the models among ``starts`` and everything downstream of them in dbt's ``child_map``."""
    seen, queue = set(starts), deque(starts)
    while queue:
        for child in children.get(queue.popleft(), []):
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return {nodes[u]["name"] for u in seen if u in nodes and nodes[u].get("resource_type") == "model"}


def dbt_blockers(sync: SyncConfig, project_dir: Path) -> list[str]:
    """Why dbt's last invocation forbids syncing this sync's model (empty when it allows it or ran nothing)."""
    if not sync.model:
        return []
    results_path = project_dir / "target" / "run_results.json"
    manifest_path = project_dir / "target" / "manifest.json"
    try:
        results = json.loads(results_path.read_text()).get("results", [])
        nodes = json.loads(manifest_path.read_text()).get("nodes", {})
    except (FileNotFoundError, ValueError):
        return []
    model_ids = {uid for uid, n in nodes.items() if n.get("resource_type") == "model" and n.get("name") == sync.model}
    reasons = []
    for result in results:
        uid, status = result.get("unique_id", ""), str(result.get("status", "")).lower()
        if status not in BAD_STATUSES:
            continue
        node = nodes.get(uid, {})
        on_model = uid in model_ids or (node.get("resource_type") == "test"
                                        and model_ids & set(node.get("depends_on", {}).get("nodes", [])))
        if on_model:
            reasons.append(f"{uid.split('.')[-1]} {status} in the last dbt run")
    return reasons
