"""Group prepared rows into ``/users/track`` requests.

A batch holds whole rows only (one row's attributes, events and purchases always travel together, so
Braze applies them in one request, attributes first), at most the configured number of objects (combined,
or per array on legacy limits), and a body under 4 MB. Which batches may run at the same time is the
client's concern: see :class:`reverse_etl.braze.client.BrazeClient`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from . import limits
from .payload import Prepared, Rejection

ARRAYS = ("attributes", "events", "purchases")
_ENVELOPE = len(b'{"attributes":[],"events":[],"purchases":[]}')


@dataclass(slots=True)
class Batch:
    """Rows for one request; ``positions[array][i]`` is the index in ``rows`` of that array's i-th object."""

    rows: list[Prepared] = field(default_factory=list)
    positions: dict[str, list[int]] = field(default_factory=lambda: {a: [] for a in ARRAYS})
    size: int = _ENVELOPE
    identities: set[str] = field(default_factory=set)

    @property
    def count(self) -> int:
        return sum(len(p) for p in self.positions.values())

    def add(self, row: Prepared) -> None:
        n = len(self.rows)
        self.rows.append(row)
        positions = self.positions
        for _ in row.attributes:
            positions["attributes"].append(n)
        for _ in row.events:
            positions["events"].append(n)
        for _ in row.purchases:
            positions["purchases"].append(n)
        self.size += row.size + row.count  # one comma per object, at most
        self.identities.add(row.identity)

    def body(self) -> bytes:
        """The request body: the rows' pre-encoded objects joined into Braze's three arrays."""
        parts = []
        for name in ARRAYS:
            objects = [obj for row in self.rows for obj in getattr(row, name)]
            if objects:
                parts.append(b'"' + name.encode() + b'":[' + b",".join(objects) + b"]")
        return b"{" + b",".join(parts) + b"}"

    def halves(self) -> tuple[Batch, Batch]:
        """The rows in two batches (whole rows, in order): what is resent after Braze answered 413."""
        first, second = Batch(), Batch()
        middle = len(self.rows) // 2
        for n, row in enumerate(self.rows):
            (first if n < middle else second).add(row)
        return first, second

    @property
    def has_events_or_purchases(self) -> bool:
        return bool(self.positions["events"] or self.positions["purchases"])


class Batcher:
    """Packs rows into batches of at most ``max_objects`` objects (per array if ``per_array``)."""

    def __init__(self, max_objects: int = limits.MAX_OBJECTS_PER_REQUEST, per_array: bool = False,
                 max_bytes: int = limits.MAX_BODY_BYTES - limits.BODY_HEADROOM_BYTES) -> None:
        self.max_objects = max_objects
        self.per_array = per_array
        self.max_bytes = max_bytes

    def too_big(self, row: Prepared) -> str | None:
        """Why ``row`` can never fit in one request, or None."""
        if self.per_array:
            worst = max(len(row.attributes), len(row.events), len(row.purchases))
            if worst > self.max_objects:
                return (f"the row has {worst} objects in one array; a request takes at most {self.max_objects} "
                        "per array: split its events or purchases over several rows")
        elif row.count > self.max_objects:
            return (f"the row has {row.count} objects; a request takes at most {self.max_objects}: "
                    "split its events or purchases over several rows")
        if row.size + row.count + _ENVELOPE > self.max_bytes:
            return f"the row is {row.size} bytes encoded; a request body must stay under {limits.MAX_BODY_BYTES} bytes"
        return None

    def fits(self, batch: Batch, row: Prepared) -> bool:
        if batch.size + row.size + row.count > self.max_bytes:
            return False
        p = batch.positions
        if self.per_array:
            return (len(p["attributes"]) + len(row.attributes) <= self.max_objects
                    and len(p["events"]) + len(row.events) <= self.max_objects
                    and len(p["purchases"]) + len(row.purchases) <= self.max_objects)
        return len(p["attributes"]) + len(p["events"]) + len(p["purchases"]) + row.count <= self.max_objects

    def batches(self, rows: Iterable[Prepared | Rejection]) -> Iterator[Batch | Rejection]:
        """Yield full batches as rows arrive (and rejections as they come), then the last partial batch."""
        batch = Batch()
        for row in rows:
            if isinstance(row, Rejection):
                yield row
                continue
            reason = self.too_big(row)
            if reason:
                yield Rejection(row.key, reason)
                continue
            if not self.fits(batch, row):
                yield batch
                batch = Batch()
            batch.add(row)
        if batch.rows:
            yield batch
