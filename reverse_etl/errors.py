"""The exceptions rsync-braze raises, in one tree.

Every error a user can cause or fix derives from :class:`RsyncBrazeError`. The CLI prints its message
(one clear sentence saying what is wrong and what to do) and exits with its ``exit_code``; anything else is
a bug and keeps its traceback.

    RsyncBrazeError
    ├── ConfigError            wrong manifest, profile, target or option (exit 2)
    ├── WarehouseError         the warehouse cannot be reached or refused a statement (exit 3)
    │   └── EmbeddedWarehouseError   the embedded PostgreSQL cannot be started or stopped
    └── DeliveryError          Braze could not be reached or refused a batch (exit 4)
        ├── RetriableError     worth retrying: 429, 5xx, timeouts, dropped connections
        └── FatalError         retrying cannot help: 400, 401, 403, 404, 413, 415

Messages never contain secrets (API keys, passwords) nor row payloads.
"""

from __future__ import annotations


class RsyncBrazeError(Exception):
    """Base of every error meant for the user: the message says what happened and how to fix it."""

    exit_code = 1


class ConfigError(RsyncBrazeError):
    """A configuration problem: manifest, dbt profile or target, command-line option."""

    exit_code = 2


class WarehouseError(RsyncBrazeError):
    """The warehouse is unreachable or refused a statement."""

    exit_code = 3


class EmbeddedWarehouseError(WarehouseError):
    """The embedded PostgreSQL could not be initialised, started or stopped."""


class DeliveryError(RsyncBrazeError):
    """Braze (or the emulator) could not be reached or refused a request."""

    exit_code = 4


class RetriableError(DeliveryError):
    """A failure that a later attempt may not hit: 429, 5xx, timeout, dropped connection."""


class FatalError(DeliveryError):
    """A failure that retrying cannot fix: bad request, wrong key, missing permission."""
