"""Settings of an emulated Braze instance; defaults follow the newest documentation [braze-api.md]."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EmulatorConfig:
    """Where the docs disagree, the newest text is the default and the older one an option.

    - ``objects_per_request``: 75 combined across attributes, events and purchases [1.2];
      ``legacy_per_array`` counts 75 per array instead (customers on legacy rate limits).
    - ``rate_limit_requests`` per ``rate_limit_period`` seconds for ``/users/track``: 3,000 per 3 s [3.1];
      None lifts it. ``/users/export/ids`` has its own, lower limit: 250 per minute for workspaces onboarded
      from 22 Aug 2024 [3.2]. The user endpoints share 20,000/min, subscription status 5,000/min [3.2].
    - ``reset_header``: ``X-RateLimit-Reset`` as UTC epoch seconds (``epoch``, api_limits.md) or as seconds
      remaining (``delta``, the newer MAU text) [3.3].
    - ``array_max``: array attributes keep at most 500 elements (older docs: 100) [1.4].
    - ``error_types``: ``errors[].type`` as the newest docs' code names where one exists (``codes``, e.g.
      ``EMAIL_BAD_FORMAT``) or always as human-readable text (``text``) [2.1].
    - ``require_fields_to_export``: ``/users/export/ids`` needs ``fields_to_export`` (workspaces onboarded from
      22 Aug 2024) [5].
    - ``blocked_external_ids``: external ids refused with ``BLACKLISTED_EXTERNAL_USER_ID`` [1.3].
    - ``state_file``: profiles persisted there (JSON) across restarts. ``keep_events``: full event and
      purchase records kept per profile (counts and summaries are kept regardless).
    - ``faults``: fault-injection settings at start (the keys of ``POST /_emulator/faults``).
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
    users_rate_requests: int | None = 20_000
    subscription_rate_requests: int | None = 5_000
    reset_header: str = "epoch"
    array_max: int = 500
    error_types: str = "codes"
    require_fields_to_export: bool = True
    blocked_external_ids: tuple[str, ...] = ()
    state_file: str | None = None
    keep_events: int = 1000
    faults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("the emulator needs an API key to accept (--api-key or RSYNC_BRAZE_EMULATOR_KEY)")
        if self.reset_header not in ("epoch", "delta"):
            raise ValueError("reset_header is 'epoch' or 'delta'")
        if self.error_types not in ("codes", "text"):
            raise ValueError("error_types is 'codes' or 'text'")
        if not 1 <= self.objects_per_request <= 10_000:
            raise ValueError("objects_per_request must be between 1 and 10,000")
        if not 1 <= self.array_max <= 100_000:
            raise ValueError("array_max must be between 1 and 100,000")
        for name in ("rate_limit_requests", "export_rate_requests", "users_rate_requests",
                     "subscription_rate_requests"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, or None to lift the limit")
        if self.rate_limit_period <= 0 or self.export_rate_period <= 0:
            raise ValueError("rate limit periods must be positive")
