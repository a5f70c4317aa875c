"""Where and how fast to send: a Braze destination, validated once when it is built.

The API key is passed in by the caller (the engine reads it from an environment variable) and is kept out of
``repr``, error messages and logs: only a short hash of it (:attr:`Destination.key_id`) identifies it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import ConfigError
from . import limits


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` requests in any window of ``period`` seconds (the destination's setting)."""

    requests: int
    period: float

    def __post_init__(self) -> None:
        if not isinstance(self.requests, int) or isinstance(self.requests, bool) or self.requests < 1:
            raise ConfigError(f"rate limit `requests` must be a whole number of at least 1, not {self.requests!r}.")
        if not isinstance(self.period, int | float) or self.period <= 0:
            raise ConfigError(f"rate limit `period` must be a positive number of seconds, not {self.period!r}.")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Destination:
    """A Braze REST endpoint, its API key and the user's delivery settings.

    ``endpoint`` is the instance's REST URL (e.g. ``https://rest.fra-01.braze.eu``). HTTPS is required
    except on loopback; the host must be a documented Braze REST host or loopback unless listed in
    ``allow_hosts``. ``rate_limit`` applies to ``/users/track`` (Braze's default is 3,000 per 3 s).
    """

    endpoint: str
    api_key: str = field(repr=False)
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(*limits.DEFAULT_TRACK_RATE))
    objects_per_request: int = limits.MAX_OBJECTS_PER_REQUEST
    legacy_per_array: bool = False
    timeout: float = 30.0
    connect_timeout: float = 10.0
    workers: int = 4
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    allow_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key.strip():
            raise ConfigError("The Braze API key is empty: set it in the environment variable the destination names.")
        if any(c.isspace() for c in self.api_key) or self.api_key[:1] in "\"'":
            raise ConfigError("The Braze API key contains whitespace or quotes: paste the key alone, unquoted.")
        object.__setattr__(self, "endpoint", self._checked_endpoint(self.endpoint))
        ceiling = limits.MAX_OBJECTS_PER_ARRAY_LEGACY if self.legacy_per_array else limits.MAX_OBJECTS_PER_REQUEST
        if not isinstance(self.objects_per_request, int) or not 1 <= self.objects_per_request <= ceiling:
            raise ConfigError(f"objects_per_request must be between 1 and {ceiling}, not {self.objects_per_request!r}.")
        for name in ("timeout", "connect_timeout", "backoff_base", "backoff_cap"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be a positive number of seconds, not {getattr(self, name)!r}.")
        if not 1 <= self.workers <= 64:
            raise ConfigError(f"workers must be between 1 and 64, not {self.workers!r}.")
        if not 1 <= self.max_attempts <= 50:
            raise ConfigError(f"max_attempts must be between 1 and 50, not {self.max_attempts!r}.")

    def _checked_endpoint(self, endpoint: str) -> str:
        parts = urlsplit(endpoint.strip() if isinstance(endpoint, str) else "")
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise ConfigError(
                f"The Braze endpoint {endpoint!r} is not a URL: use your instance's REST endpoint, "
                "e.g. https://rest.iad-01.braze.com."
            )
        if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
            raise ConfigError(
                f"The Braze endpoint {parts.scheme}://{host} must be a bare base URL with no path, query or "
                "credentials, e.g. https://rest.iad-01.braze.com."
            )
        loopback = is_loopback(host)
        if parts.scheme != "https" and not loopback:
            raise ConfigError(f"The Braze endpoint must use HTTPS: use https://{host} (plain HTTP is only allowed on loopback).")
        allowed = {h.lower() for h in self.allow_hosts}
        if not loopback and host not in limits.REST_HOSTS and host not in allowed:
            raise ConfigError(
                f"{host} is not a documented Braze REST host (e.g. rest.iad-01.braze.com, rest.fra-01.braze.eu). "
                "Check the endpoint in Braze under Settings > APIs and Identifiers; if this host is right "
                "(a proxy, say), list it in allow_hosts."
            )
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        if ":" in host:
            netloc = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
        return f"{parts.scheme}://{netloc}"

    @property
    def key_id(self) -> str:
        """A short, non-reversible id of the API key, safe to log and to key registries with."""
        return hashlib.sha256(self.api_key.encode()).hexdigest()[:12]

    @property
    def max_objects(self) -> tuple[int, bool]:
        """(objects per request, whether the count is per array)."""
        return self.objects_per_request, self.legacy_per_array

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced, for messages built from third-party exceptions."""
        return text.replace(self.api_key, "***") if self.api_key else text
