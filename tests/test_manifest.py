"""The sync manifest: rendered with env_var(), validated completely, every problem named with its fix."""

from __future__ import annotations

import textwrap

import pytest

from reverse_etl.errors import ConfigError
from reverse_etl.manifest import load
from reverse_etl.manifest_schema import DESTINATION_KEYS, SYNC_KEYS, reference_markdown

GOOD = """
destinations:
  braze:
    endpoint: "{{ env_var('TEST_BRAZE_ENDPOINT', 'https://rest.fra-01.braze.eu') }}"
    api_key_env: TEST_BRAZE_KEY
    rate_limit: {requests: 600, period: 3}
    custom_attributes:
      lifetime_value: {type: float, required: true}
      rfm_segment: string
syncs:
  - name: users
    model: braze_users
    identifier: {column: external_id, type: external_id}
    mapping:
      email: email
      first_name: first_name
      ltv: lifetime_value
      segment: rfm_segment
      email_subscribe: {attribute: email_subscribe, sync_on: [create]}
  - name: crm_aliases
    relation: analytics.crm_users
    identifier: {column: crm_id, type: user_alias, label: crm_id}
    mode: full
    on_remove: unset
    schedule: "0 6 * * *"
    mapping: {ltv: lifetime_value}
"""


def write(tmp_path, text: str):
    path = tmp_path / "rsync_braze.yml"
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text))
    return str(info.value)


def test_good_manifest_loads_with_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_BRAZE_ENDPOINT", raising=False)
    manifest = load(write(tmp_path, GOOD))
    dest = manifest.destinations["braze"]
    assert dest.endpoint == "https://rest.fra-01.braze.eu"
    assert (dest.rate_limit_requests, dest.rate_limit_period, dest.objects_per_request) == (600, 3.0, 75)
    assert dest.custom_attributes["rfm_segment"].type == "string"
    users = manifest.syncs["users"]
    assert users.destination == "braze", "the only destination is the default"
    assert (users.mode, users.on_remove, users.schedule, users.object) == ("incremental", "ignore", "manual",
                                                                           "user_attributes")
    by_column = {m.column: m for m in users.mapping}
    assert by_column["email_subscribe"].sync_on == ("create",)
    assert by_column["email"].sync_on == ("create", "update")
    alias = manifest.syncs["crm_aliases"]
    assert (alias.identifier_type, alias.identifier_label, alias.mode) == ("user_alias", "crm_id", "full")
    assert manifest.state_schema == "rsync_braze"


def test_env_var_is_rendered_and_a_missing_one_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_BRAZE_ENDPOINT", "http://127.0.0.1:4010")
    assert load(write(tmp_path, GOOD)).destinations["braze"].endpoint == "http://127.0.0.1:4010"
    text = GOOD.replace("'TEST_BRAZE_ENDPOINT', 'https://rest.fra-01.braze.eu'", "'NOT_SET_ANYWHERE_X'")
    monkeypatch.delenv("NOT_SET_ANYWHERE_X", raising=False)
    assert "NOT_SET_ANYWHERE_X is not set" in problems_of(tmp_path, text)


def test_api_key_is_read_from_its_variable_only_at_run_time(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_BRAZE_KEY", raising=False)
    dest = load(write(tmp_path, GOOD)).destinations["braze"]
    with pytest.raises(ConfigError, match="TEST_BRAZE_KEY is not set"):
        dest.api_key()
    monkeypatch.setenv("TEST_BRAZE_KEY", "  abc-123  ")
    assert dest.api_key() == "abc-123"


def test_every_problem_is_reported_at_once_with_where_and_fix(tmp_path):
    bad = """
    destinations:
      braze:
        endpoint: http://rest.fra-01.braze.eu
        api_key: sk-live-should-not-be-here
        api_key_env: "not a var"
        objects_per_request: 500
        custom_attributes: {ltv: {type: money}}
    syncs:
      - name: Users
        model: braze_users
        relation: x.y
        identifier: {type: user_alias}
        mode: sometimes
        on_remove: delete
        schedule: every day
        mapping: {ltv: ltv, nick: nickname}
        sink_on: [create]
    """
    message = problems_of(tmp_path, bad)
    for expected in (
        "destinations.braze.api_key: API keys never go in the manifest",
        "destinations.braze.api_key_env: 'not a var' is not an environment variable name",
        "destinations.braze.objects_per_request: must be at most 75",
        "destinations.braze.custom_attributes.ltv: needs a type",
        "must use HTTPS",
        "syncs.Users.name: use lower case",
        "give exactly one of `model`",
        "syncs.Users.identifier.column: is required",
        "syncs.Users.identifier.label: is required for a user_alias",
        "syncs.Users.mode: must be one of incremental, full",
        "add `confirm_delete: true`",
        "syncs.Users.schedule: must be manual, realtime, or a 5-field cron",
        "'nickname' is neither a Braze standard field nor declared",
        "syncs.Users.sink_on: unknown key. Did you mean 'sync_on'?",
    ):
        assert expected in message, expected
    assert "sk-live-should-not-be-here" not in message


def test_required_custom_attribute_must_be_mapped(tmp_path):
    text = GOOD.replace("      ltv: lifetime_value\n", "")
    assert "'lifetime_value' is required for syncs to 'braze'" in problems_of(tmp_path, text)


def test_unknown_destination_duplicate_names_and_two_columns_on_one_attribute(tmp_path):
    text = GOOD + """
  - name: users
    model: braze_users
    destination: nowhere
    identifier: {column: id}
    mapping: {a: email, b: email}
"""
    message = problems_of(tmp_path, text)
    assert "syncs.users.destination: 'nowhere' is not a destination" in message
    assert "is defined twice" in message
    assert "two columns are mapped to 'email'" in message


def test_missing_file_and_bad_yaml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="No sync manifest at .*rsync-braze init"):
        load(tmp_path / "nope.yml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(write(tmp_path, "syncs: [unclosed\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load(write(tmp_path, "- just\n- a list\n"))


def test_reference_covers_every_key():
    text = reference_markdown()
    for key in (*DESTINATION_KEYS, *SYNC_KEYS):
        assert f"| `{key}` |" in text


def test_readme_reference_is_generated_from_the_schema():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("<!-- manifest-reference:start -->\n") + len("<!-- manifest-reference:start -->\n")
    end = readme.index("<!-- manifest-reference:end -->")
    assert readme[start:end] == reference_markdown(), "regenerate the README reference from manifest_schema.py"


def test_merges_are_checked(tmp_path):
    base = textwrap.dedent("""
        destinations:
          braze: {endpoint: "http://127.0.0.1:4010", api_key_env: BRAZE_API_KEY}
        syncs:
          - name: users
            relation: a.users
            identifier: {column: person_id, type: external_id}
            mapping: {email: email}
            merges: MERGES
    """)
    ok = load(write(tmp_path, base.replace("MERGES", "{model: identity_retired_person_ids, retired: r, surviving: s}")))
    assert ok.syncs["users"].merges == {"model": "identity_retired_person_ids", "retired": "r", "surviving": "s"}
    with pytest.raises(ConfigError, match=r"merges.surviving: is required"):
        load(write(tmp_path, base.replace("MERGES", "{model: m, retired: r}")))
    with pytest.raises(ConfigError, match=r"exactly one of `model`"):
        load(write(tmp_path, base.replace("MERGES", "{retired: r, surviving: s}")))
    with pytest.raises(ConfigError, match=r"external_id only"):
        load(write(tmp_path, base.replace("MERGES", "{model: m, retired: r, surviving: s}").replace(
            "type: external_id", "type: email")))
    with pytest.raises(ConfigError, match=r"merges.from: unknown key"):
        load(write(tmp_path, base.replace("MERGES", "{model: m, retired: r, surviving: s, from: x}")))


def test_a_sync_name_longer_than_its_state_tables_allow_is_refused(tmp_path):
    longest = "s" * 53
    assert load(write(tmp_path, GOOD.replace("name: users", f"name: {longest}"))).syncs[longest]
    message = problems_of(tmp_path, GOOD.replace("name: users", f"name: {longest}x"))
    assert f"syncs.{longest}x.name: is 54 characters long; use at most 53" in message


def test_a_bad_manifest_time_zone_is_reported_once(tmp_path):
    message = problems_of(tmp_path, "timezone: Mars/Olympus\n" + GOOD)
    assert message.count("manifest.timezone") == 1, message
