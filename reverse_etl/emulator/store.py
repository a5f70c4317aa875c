"""Profiles, aliases, events and purchases, in memory, optionally persisted to a JSON file.

Lookups by external_id, braze_id, alias (label, name), email and phone. Email and phone lookups follow
Braze's rule when several profiles share the address: the most recently updated profile that has an
external_id, else the most recently updated one [braze-api.md 1.3].
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Profile = dict[str, Any]


class Store:
    """All profiles of one emulated workspace. Callers hold ``lock`` around reads and writes."""

    def __init__(self, state_file: str | None = None, keep_events: int = 1000):
        self.lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        self.keep_events = keep_events
        self._tick = itertools.count()
        self.reset()
        if self.state_file and self.state_file.exists():
            self._load()
        self.dirty = False

    def reset(self) -> None:
        self.profiles: dict[str, Profile] = {}      # braze_id -> profile
        self.by_external: dict[str, str] = {}
        self.by_alias: dict[tuple[str, str], str] = {}
        self.index: dict[str, dict[str, set[str]]] = {"email": {}, "phone": {}}
        self.dirty = True

    # ------------------------------------------------------------------------------------------ lookups
    def by_external_id(self, external_id: str) -> Profile | None:
        bid = self.by_external.get(external_id)
        return self.profiles.get(bid) if bid else None

    def by_braze_id(self, braze_id: str) -> Profile | None:
        return self.profiles.get(braze_id)

    def by_user_alias(self, label: str, name: str) -> Profile | None:
        bid = self.by_alias.get((label, name))
        return self.profiles.get(bid) if bid else None

    def by_field(self, field: str, value: str) -> Profile | None:
        matches = self.all_by_field(field, value)
        if not matches:
            return None
        identified = [p for p in matches if p.get("external_id")]
        return max(identified or matches, key=lambda p: p["_seq"])

    def all_by_field(self, field: str, value: str) -> list[Profile]:
        return [self.profiles[b] for b in self.index[field].get(value, ()) if b in self.profiles]

    def set_field(self, profile: Profile, field: str, value: Any) -> None:
        """Write a top-level field, keeping the email and phone indexes right."""
        if field in self.index:
            old = profile.get(field)
            if old is not None:
                self.index[field].get(old, set()).discard(profile["braze_id"])
            if value is not None:
                self.index[field].setdefault(value, set()).add(profile["braze_id"])
        if value is None:
            profile.pop(field, None)
        else:
            profile[field] = value

    # ------------------------------------------------------------------------------------------ writes
    def create(self, external_id: str | None = None, alias: tuple[str, str] | None = None,
               email: str | None = None, phone: str | None = None) -> Profile:
        now = datetime.now(UTC).isoformat()
        profile: Profile = {"braze_id": uuid.uuid4().hex[:24], "external_id": external_id, "user_aliases": [],
                            "custom_attributes": {}, "events": [], "event_count": 0, "purchases": [],
                            "purchase_count": 0, "created_at": now, "updated_at": now, "_seq": next(self._tick)}
        self.profiles[profile["braze_id"]] = profile
        if email:
            self.set_field(profile, "email", email)
        if phone:
            self.set_field(profile, "phone", phone)
        if external_id:
            self.by_external[external_id] = profile["braze_id"]
        if alias:
            self.add_alias(profile, alias)
        self.dirty = True
        return profile

    def add_alias(self, profile: Profile, alias: tuple[str, str]) -> bool:
        label, name = alias
        if any(a["alias_label"] == label for a in profile["user_aliases"]):
            return False  # one alias_name per alias_label [1.3]
        profile["user_aliases"].append({"alias_name": name, "alias_label": label})
        self.by_alias[(label, name)] = profile["braze_id"]
        self.touch(profile)
        return True

    def set_external_id(self, profile: Profile, external_id: str) -> None:
        profile["external_id"] = external_id
        self.by_external[external_id] = profile["braze_id"]
        self.touch(profile)

    def touch(self, profile: Profile) -> None:
        profile["updated_at"] = datetime.now(UTC).isoformat()
        profile["_seq"] = next(self._tick)
        self.dirty = True

    def add_event(self, profile: Profile, kind: str, record: dict) -> None:
        key = "events" if kind == "events" else "purchases"
        profile[f"{key[:-1]}_count"] += record.get("quantity", 1) if kind == "purchases" else 1
        if len(profile[key]) < self.keep_events:
            profile[key].append(record)
        self.touch(profile)

    def delete(self, profile: Profile) -> None:
        self.profiles.pop(profile["braze_id"], None)
        for field in self.index:
            if profile.get(field) is not None:
                self.index[field].get(profile[field], set()).discard(profile["braze_id"])
        if profile.get("external_id"):
            self.by_external.pop(profile["external_id"], None)
        for a in profile["user_aliases"]:
            self.by_alias.pop((a["alias_label"], a["alias_name"]), None)
        self.dirty = True

    def merge_into(self, source: Profile, target: Profile) -> None:
        """Move what ``target`` lacks from ``source`` into it, then remove ``source`` (identify, merge)."""
        for k, v in source.items():
            if k in ("braze_id", "external_id", "_seq", "created_at", "updated_at", "user_aliases"):
                continue
            if k == "custom_attributes":
                for ck, cv in v.items():
                    target["custom_attributes"].setdefault(ck, cv)
            elif k in ("events", "purchases"):
                target[k].extend(v)
            elif k in ("event_count", "purchase_count"):
                target[k] += v
            elif target.get(k) is None:
                if k in self.index:
                    self.index[k].get(v, set()).discard(source["braze_id"])
                self.set_field(target, k, v)
        self.delete(source)
        for a in source["user_aliases"]:
            self.add_alias(target, (a["alias_label"], a["alias_name"]))
        self.touch(target)

    # ------------------------------------------------------------------------------------- persistence
    def public(self, profile: Profile) -> Profile:
        return {k: v for k, v in profile.items() if not k.startswith("_")}

    def save(self) -> None:
        if not self.state_file or not self.dirty:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"profiles": list(self.profiles.values())}))
        os.replace(tmp, self.state_file)
        self.dirty = False

    def _load(self) -> None:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return
        for profile in data.get("profiles", []):
            profile["_seq"] = next(self._tick)
            self.profiles[profile["braze_id"]] = profile
            if profile.get("external_id"):
                self.by_external[profile["external_id"]] = profile["braze_id"]
            for a in profile.get("user_aliases", []):
                self.by_alias[(a["alias_label"], a["alias_name"])] = profile["braze_id"]
            for field in self.index:
                if profile.get(field) is not None:
                    self.index[field].setdefault(profile[field], set()).add(profile["braze_id"])
