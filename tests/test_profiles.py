"""Credentials come from the dbt profile, found and rendered the way dbt does it."""

from __future__ import annotations

import pytest

from reverse_etl import warehouse
from reverse_etl.embedded import free_port
from reverse_etl.errors import ConfigError, WarehouseError
from reverse_etl.profiles import resolve

PROFILE = """
rsync_braze:
  target: "{{ env_var('DBT_TARGET', 'dev') }}"
  outputs:
    dev:
      type: postgres
      host: "{{ env_var('TEST_PG_HOST', '127.0.0.1') }}"
      port: "{{ env_var('TEST_PG_PORT', '5432') | as_number }}"
      user: alice
      password: "{{ env_var('TEST_PG_PASSWORD', 's3cret-password') }}"
      dbname: shop
      schema: analytics
      threads: 1
    other:
      type: postgres
      host: db.internal
      port: 6543
      user: bob
      password: ""
      dbname: shop
      schema: reporting
      threads: 1
    lake:
      type: snowflake
      account: x
      user: y
      password: z
      database: d
      schema: s
      warehouse: w
      threads: 1
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    for var in ("DBT_PROFILES_DIR", "DBT_TARGET", "TEST_PG_PORT", "TEST_PG_HOST", "TEST_PG_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: rsync_braze\nconfig-version: 2\n")
    return tmp_path


def test_profile_in_project_folder_is_rendered_with_env_vars(project, monkeypatch):
    (project / "profiles.yml").write_text(PROFILE)
    monkeypatch.setenv("TEST_PG_PORT", "6000")
    spec = resolve(project)
    assert (spec.host, spec.port, spec.user, spec.dbname, spec.schema, spec.target) == (
        "127.0.0.1", 6000, "alice", "shop", "analytics", "dev")
    assert spec.password == "s3cret-password"
    assert "s3cret" not in repr(spec) and "s3cret" not in spec.describe()


def test_target_from_flag_then_env(project, monkeypatch):
    (project / "profiles.yml").write_text(PROFILE)
    assert resolve(project, target="other").host == "db.internal"
    monkeypatch.setenv("DBT_TARGET", "other")
    assert resolve(project).schema == "reporting"
    assert resolve(project, target="dev").schema == "analytics", "the flag beats the environment"


def test_profiles_dir_flag_and_env_beat_the_project_folder(project, monkeypatch, tmp_path_factory):
    (project / "profiles.yml").write_text(PROFILE)
    elsewhere = tmp_path_factory.mktemp("profiles")
    (elsewhere / "profiles.yml").write_text(PROFILE.replace("alice", "carol"))
    assert resolve(project, profiles_dir=str(elsewhere)).user == "carol"
    monkeypatch.setenv("DBT_PROFILES_DIR", str(elsewhere))
    assert resolve(project).user == "carol"


def test_embedded_profile_is_the_last_fallback(project):
    home = project / ".rsync-braze"
    home.mkdir()
    (home / "profiles.yml").write_text(PROFILE.replace("alice", "embedded-user"))
    assert resolve(project).user == "embedded-user"
    (project / "profiles.yml").write_text(PROFILE)
    assert resolve(project).user == "alice"


def test_no_profile_anywhere_says_how_to_get_one(project):
    with pytest.raises(ConfigError, match="rsync-braze warehouse start"):
        resolve(project)


def test_unknown_profile_lists_the_ones_there(project):
    (project / "profiles.yml").write_text(PROFILE)
    with pytest.raises(ConfigError, match=r"Profile 'nope' is not in .*rsync_braze"):
        resolve(project, profile="nope")


def test_unknown_target_is_a_config_error(project):
    (project / "profiles.yml").write_text(PROFILE)
    with pytest.raises(ConfigError, match="missing"):
        resolve(project, target="missing")


def test_unsupported_adapter_is_named(project):
    (project / "profiles.yml").write_text(PROFILE)
    with pytest.raises(ConfigError, match="type 'snowflake'"):
        resolve(project, target="lake")


def test_unreachable_warehouse_is_a_clear_error_without_the_password(project, monkeypatch):
    (project / "profiles.yml").write_text(PROFILE)
    monkeypatch.setenv("TEST_PG_PORT", str(free_port()))
    spec = resolve(project)
    with pytest.raises(WarehouseError) as info:
        warehouse.connect(spec)
    message = str(info.value)
    assert "Cannot reach the warehouse" in message and str(spec.port) in message
    assert "s3cret-password" not in message
