"""Profiles, aliases, events and purchases, in memory, optionally persisted to a JSON file.

Lookups by external_id, braze_id, alias (label, name), email and phone. Email and phone lookups follow
Braze's rule when several profiles share the address: the most recently updated profile that has an
external_id, else the most recently updated one [braze-api.md 1.3].
"""

from __future__ import annotations

import itertools
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

Profile = dict[str, Any]


class Store:
    """All profiles of one emulated workspace.

    Not thread-safe on purpose: the server touches it only from its event-loop thread, so each request is
    applied whole before the next one starts (consistent state with no locks).
    """

    def __init__(self, state_file: str | None = None, keep_events: int = 1000):
        self.now = datetime.now(UTC).isoformat()
        self.state_file = Path(state_file) if state_file else None
        self.keep_events = keep_events
        self._tick = itertools.count()
        # braze_ids are 24 hex digits like Braze's (MongoDB ObjectIds): seconds, a random part drawn once per
        # process, a counter. Unique without a lookup, and ~5x cheaper than a uuid4 per created profile.
        self._id_process = os.urandom(5).hex()
        self._id_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
        self.reset()
        if self.state_file and self.state_file.exists():
            self._load()
        self.dirty = False

    def begin(self) -> None:
        """Start a request: one timestamp for every profile it touches (cheaper than one per object)."""
        self.now = datetime.now(UTC).isoformat()

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
        now = self.now
        braze_id = f"{int(time.time()) & 0xFFFFFFFF:08x}{self._id_process}{next(self._id_counter) & 0xFFFFFF:06x}"
        profile: Profile = {"braze_id": braze_id, "external_id": external_id, "user_aliases": [],
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
        profile["updated_at"] = self.now
        profile["_seq"] = next(self._tick)
        self.dirty = True

    def add_event(self, profile: Profile, kind: str, record: dict) -> None:
        """Record an event or purchase; the full records are capped at ``keep_events``, the summaries are not."""
        key = "events" if kind == "events" else "purchases"
        # A purchase of quantity X counts as X purchases [1.7].
        n = record.get("quantity", 1) if kind == "purchases" else 1
        profile[f"{key[:-1]}_count"] += n
        if len(profile[key]) < self.keep_events:
            profile[key].append(record)
        name = record["name"] if kind == "events" else record["product_id"]
        summary = profile.setdefault("event_summary" if kind == "events" else "purchase_summary", {})
        entry = summary.setdefault(name, {"name": name, "first": record["time"], "last": record["time"], "count": 0})
        entry["first"], entry["last"] = min(entry["first"], record["time"]), max(entry["last"], record["time"])
        entry["count"] += n
        if kind == "purchases":
            profile["total_revenue"] = round(profile.get("total_revenue", 0) + record["price"] * n, 6)
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
            elif k in ("event_count", "purchase_count", "total_revenue"):
                target[k] = target.get(k, 0) + v
            elif k in ("event_summary", "purchase_summary"):
                mine = target.setdefault(k, {})
                for name, e in v.items():
                    m = mine.setdefault(name, dict(e, count=0))
                    m["first"], m["last"] = min(m["first"], e["first"]), max(m["last"], e["last"])
                    m["count"] += e["count"]
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
        """The profile as introspection shows it (internal keys start with ``_``)."""
        return {k: v for k, v in profile.items() if not k.startswith("_")}

    def save(self) -> None:
        if not self.state_file or not self.dirty:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"profiles": list(self.profiles.values())}))
        os.replace(tmp, self.state_file)
        self.dirty = False

    def _load(self) -> None:
        from ..errors import ConfigError

        try:
            data = orjson.loads(self.state_file.read_bytes())
            profiles = data["profiles"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"The emulator's state file {self.state_file} cannot be read ({type(exc).__name__}): "
                              "delete it or pick another state file.") from None
        for profile in profiles:
            profile["_seq"] = next(self._tick)
            self.profiles[profile["braze_id"]] = profile
            if profile.get("external_id"):
                self.by_external[profile["external_id"]] = profile["braze_id"]
            for a in profile.get("user_aliases", []):
                self.by_alias[(a["alias_label"], a["alias_name"])] = profile["braze_id"]
            for field in self.index:
                if profile.get(field) is not None:
                    self.index[field].setdefault(profile[field], set()).add(profile["braze_id"])
