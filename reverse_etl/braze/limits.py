"""Braze's documented limits, as named constants (source: shared/reference/braze-api.md, section in brackets).

Nothing here is tunable at run time; the user's settings (objects per request, rate limit) live on
:class:`reverse_etl.braze.destination.Destination` and are checked against these ceilings.
"""

from __future__ import annotations

# /users/track request shape [1.2]
MAX_OBJECTS_PER_REQUEST = 75          # combined across attributes+events+purchases (current rule)
MAX_OBJECTS_PER_ARRAY_LEGACY = 75     # per array, for workspaces on legacy limits (225 in all)
MAX_BODY_BYTES = 4 * 1024 * 1024      # larger bodies get 413
# Room kept under MAX_BODY_BYTES for the envelope and any estimate error.
BODY_HEADROOM_BYTES = 4 * 1024

# Values [1.3, 1.4, 1.6, 1.7]
MAX_STRING_CHARS = 255
MAX_KEY_CHARS = 255
MAX_EXTERNAL_ID_BYTES = 987
MAX_NESTED_OBJECT_BYTES = 100 * 1024
MAX_EVENT_PROPERTIES_BYTES = 100 * 1024
MAX_PURCHASE_PROPERTIES_BYTES = 50 * 1024
MIN_PURCHASE_QUANTITY = 1
MAX_PURCHASE_QUANTITY = 100
MIN_YEAR = 0
MAX_YEAR = 3000

RESERVED_EVENT_PROPERTY_KEYS = frozenset({"time", "event_name"})
RESERVED_PURCHASE_PROPERTY_KEYS = frozenset({"time", "product_id", "quantity", "event_name", "price", "currency"})

GENDER_CODES = frozenset({"M", "F", "O", "N", "P"})
SUBSCRIBE_STATES = frozenset({"opted_in", "subscribed", "unsubscribed"})
SUBSCRIPTION_GROUP_STATES = frozenset({"subscribed", "unsubscribed"})

# Identifier keys: never custom attributes, and at most one primary per object [1.3].
IDENTIFIER_KEYS = frozenset({"external_id", "braze_id", "user_alias", "alias_name", "alias_label"})

# Other endpoints [5]
MAX_IDS_PER_REQUEST = 50              # /users/delete, /users/alias/new, /users/identify, /subscription/status/set

# Rate limits [3.1, 3.2]: requests per period in seconds.
DEFAULT_TRACK_RATE = (3000, 3.0)
USERS_MISC_RATE = (20_000, 60.0)      # delete, alias/new, identify, merge: one shared pool
SUBSCRIPTION_RATE = (5_000, 60.0)
# X-RateLimit-Reset above this is an epoch; below, a number of seconds [3.3].
RESET_EPOCH_THRESHOLD = 1_000_000_000

# Documented REST hosts, one per instance [4]. Anything else needs an explicit allow.
REST_HOSTS = frozenset({
    *(f"rest.iad-0{n}.braze.com" for n in range(1, 9)),
    "rest.us-10.braze.com",
    "rest.fra-01.braze.eu",
    "rest.fra-02.braze.eu",
    "rest.au-01.braze.com",
    "rest.id-01.braze.com",
    "rest.jp-01.braze.com",
    "rest.kr-01.braze.com",
})
