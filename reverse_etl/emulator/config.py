"""Settings of an emulated Braze instance; defaults follow the newest documentation [braze-api.md]."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EmulatorConfig:
    """Where the docs disagree, the newest text is the default and the older one an option.

    ``objects_per_request``: 75 combined across attributes, events and purchases [1.2]; ``legacy_per_array``
    counts 75 per array instead. ``rate_limit_requests`` per ``rate_limit_period`` seconds applies to
    ``/users/track`` (3,000 per 3 s [3.1]; None lifts it). ``/users/export/ids`` has its own, lower limit
    (250 per minute for newer workspaces [3.2]). ``reset_header``: ``X-RateLimit-Reset`` as an epoch
    (``epoch``) or as seconds remaining (``delta``) [3.3]. ``array_max``: 500 elements (older docs: 100) [1.4].
    ``state_file`` keeps profiles across restarts. ``faults`` are the fault-injection settings at start.
    """

    api_key: str
    host: str = "127.0.0.1"
    port: int = 0
    objects_per_request: int = 75
    legacy_per_array: bool = False
    rate_limit_requests: int | None = 3000
    rate_limit_period: float = 3.0
    export_rate_requests: int | None = 250
    export_rate_period: float = 60.0
    reset_header: str = "epoch"
    array_max: int = 500
    require_fields_to_export: bool = True
    state_file: str | None = None
    keep_events: int = 1000
    faults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("the emulator needs an API key to accept (--api-key or RSYNC_BRAZE_EMULATOR_KEY)")
        if self.reset_header not in ("epoch", "delta"):
            raise ValueError("reset_header is 'epoch' or 'delta'")
        if not 1 <= self.objects_per_request <= 10_000:
            raise ValueError("objects_per_request must be between 1 and 10,000")
