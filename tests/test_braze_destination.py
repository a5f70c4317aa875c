"""Destination validation: HTTPS, documented hosts, settings within Braze's limits, the key kept secret."""

from __future__ import annotations

import pytest

from reverse_etl.braze import Destination, RateLimit
from reverse_etl.errors import ConfigError

KEY = "sk-very-secret-0123"


@pytest.mark.parametrize("endpoint, expected", [
    ("https://rest.iad-01.braze.com", "https://rest.iad-01.braze.com"),
    ("https://REST.fra-02.braze.eu/", "https://rest.fra-02.braze.eu"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://localhost:9", "http://localhost:9"),
    ("http://[::1]:9", "http://[::1]:9"),
    ("https://rest.kr-01.braze.com", "https://rest.kr-01.braze.com"),
])
def test_accepted_endpoints_are_normalised(endpoint, expected):
    assert Destination(endpoint, KEY).endpoint == expected


@pytest.mark.parametrize("endpoint, message", [
    ("http://rest.iad-01.braze.com", "must use HTTPS"),
    ("https://rest.iad-09.braze.com", "not a documented Braze REST host"),
    ("https://sdk.iad-01.braze.com", "not a documented Braze REST host"),
    ("https://evil.example.com", "allow_hosts"),
    ("rest.iad-01.braze.com", "not a URL"),
    ("https://rest.iad-01.braze.com/users/track", "no path"),
    ("https://user:pw@rest.iad-01.braze.com", "no path, query or credentials"),
    ("ftp://rest.iad-01.braze.com", "not a URL"),
])
def test_bad_endpoints_are_config_errors(endpoint, message):
    with pytest.raises(ConfigError, match=message) as info:
        Destination(endpoint, KEY)
    assert KEY not in str(info.value)


def test_other_hosts_need_an_explicit_allow_and_still_https():
    assert Destination("https://braze-proxy.internal", KEY, allow_hosts=("braze-proxy.internal",))
    with pytest.raises(ConfigError, match="HTTPS"):
        Destination("http://braze-proxy.internal", KEY, allow_hosts=("braze-proxy.internal",))


@pytest.mark.parametrize("settings, message", [
    ({"objects_per_request": 76}, "between 1 and 75"),
    ({"objects_per_request": 0}, "between 1 and 75"),
    ({"timeout": 0}, "timeout"),
    ({"workers": 0}, "workers"),
    ({"max_attempts": 0}, "max_attempts"),
])
def test_settings_are_checked(settings, message):
    with pytest.raises(ConfigError, match=message):
        Destination("https://rest.iad-01.braze.com", KEY, **settings)


@pytest.mark.parametrize("requests, period", [(0, 3.0), (10, 0), (1.5, 3.0), (True, 3.0)])
def test_bad_rate_limits(requests, period):
    with pytest.raises(ConfigError, match="rate limit"):
        RateLimit(requests, period)


@pytest.mark.parametrize("key, message", [("", "empty"), ("  ", "empty"), ('"abc"', "quotes"), ("ab c", "whitespace")])
def test_bad_keys(key, message):
    with pytest.raises(ConfigError, match=message):
        Destination("https://rest.iad-01.braze.com", key)


def test_key_is_not_in_repr_and_has_a_stable_id():
    d = Destination("https://rest.iad-01.braze.com", KEY)
    assert KEY not in repr(d) and KEY not in str(d)
    assert d.key_id == Destination("http://127.0.0.1:1", KEY).key_id != Destination("http://127.0.0.1:1", "other").key_id
    assert KEY not in d.key_id
    assert d.redact(f"oops {KEY}") == "oops ***"
