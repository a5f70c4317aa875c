"""Braze delivery client: typed rows in, one outcome per row out.

Modules, by responsibility: ``limits`` (Braze's documented limits), ``destination`` (endpoint, key, settings,
validated), ``rows`` (input and outcome types), ``values`` and ``payload`` (wire formats and validation),
``batching`` (rows into requests), ``ratelimit`` (shared limiter), ``transport`` (HTTP), ``pool`` (workers and
retries), ``client`` (``/users/track``), ``endpoints`` (delete, alias, identify, subscription status),
``progress`` (terminal bar or log lines). See docs/braze-client.md.
"""

from .client import BrazeClient, Stats
from .destination import Destination, RateLimit
from .payload import AttributeSpec
from .rows import DELIVERED, FAILED, REJECTED, Event, Identifier, Outcome, Purchase, TrackRow

__all__ = [
    "AttributeSpec", "BrazeClient", "DELIVERED", "Destination", "Event", "FAILED", "Identifier", "Outcome",
    "Purchase", "REJECTED", "RateLimit", "Stats", "TrackRow",
]
