"""Warehouse credentials, read from the user's dbt profile exactly as dbt reads them.

There is no second credentials file: rsync-braze finds ``profiles.yml`` where dbt does (``--profiles-dir``,
then ``DBT_PROFILES_DIR``, then the project folder, then ``~/.dbt``), renders it with dbt's own renderer
(``env_var()`` and friends), and picks the target from ``--target``, then ``DBT_TARGET``, then the profile's
default. When none of these exists, the embedded warehouse's profile (``.rsync-braze/profiles.yml``,
written by ``rsync-braze warehouse start``) is the fallback, so the embedded warehouse is only a default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .embedded import HOME_DIRNAME
from .errors import ConfigError

SUPPORTED_TYPES = ("postgres", "duckdb")
DEFAULT_PROFILE = "rsync_braze"


@dataclass(frozen=True)
class ConnectionSpec:
    """A rendered dbt target: where the warehouse is and which schema the models are built in."""

    type: str
    host: str
    port: int
    user: str
    dbname: str
    schema: str
    profile: str
    target: str
    profiles_path: Path
    password: str = field(default="", repr=False)
    extra: dict = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        """Where we connect, for messages: never the password."""
        if self.type == "duckdb":
            return f"duckdb file {self.dbname} (target {self.target!r} of profile {self.profile!r} in {self.profiles_path})"
        return f"{self.type}://{self.user}@{self.host}:{self.port}/{self.dbname} (target {self.target!r} of profile {self.profile!r} in {self.profiles_path})"


def _candidate_dirs(project_dir: Path, profiles_dir: str | None) -> list[tuple[Path, str]]:
    if profiles_dir:
        return [(Path(profiles_dir), "--profiles-dir")]
    env = os.environ.get("DBT_PROFILES_DIR")
    if env:
        return [(Path(env), "DBT_PROFILES_DIR")]
    return [
        (project_dir, "the project folder"),
        (Path.home() / ".dbt", "~/.dbt"),
        (project_dir / HOME_DIRNAME, "the embedded warehouse"),
    ]


def project_profile_name(project_dir: Path) -> str:
    """The ``profile:`` of the project's dbt_project.yml (``rsync_braze`` when there is none)."""
    path = project_dir / "dbt_project.yml"
    if not path.exists():
        return DEFAULT_PROFILE
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return str(data.get("profile") or DEFAULT_PROFILE)


def resolve(project_dir: str | os.PathLike | None = None, profiles_dir: str | None = None,
            profile: str | None = None, target: str | None = None) -> ConnectionSpec:
    """Find, render and check the dbt target to connect to."""
    project = Path(project_dir or os.getcwd()).resolve()
    candidates = _candidate_dirs(project, profiles_dir)
    found = next(((d / "profiles.yml", why) for d, why in candidates if (d / "profiles.yml").is_file()), None)
    if found is None:
        looked = ", ".join(f"{d} ({why})" for d, why in candidates)
        hint = (
            "start the embedded warehouse (rsync-braze warehouse start) or pass --profiles-dir"
            if not profiles_dir and not os.environ.get("DBT_PROFILES_DIR")
            else "check the folder, it must contain a profiles.yml"
        )
        raise ConfigError(f"No profiles.yml found (looked in {looked}): {hint}.")
    path, _ = found
    profile_name = profile or project_profile_name(project)
    target = target or os.environ.get("DBT_TARGET") or None

    from dbt.config.profile import Profile, read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.exceptions import DbtProfileError, DbtRuntimeError
    from dbt_common.context import set_invocation_context

    set_invocation_context(os.environ)
    try:
        raw = read_profile(str(path.parent))
    except (DbtRuntimeError, DbtProfileError) as exc:
        raise ConfigError(f"{path} could not be read: {_first_line(exc)}") from None
    if profile_name not in raw:
        names = ", ".join(sorted(k for k in raw if k != "config")) or "none"
        raise ConfigError(
            f"Profile {profile_name!r} is not in {path} (profiles there: {names}). Add it, or pass --profile."
        )
    try:
        target_name, data = Profile.render_profile(raw[profile_name], profile_name, target, ProfileRenderer({}))
    except (DbtRuntimeError, DbtProfileError) as exc:
        raise ConfigError(f"Target of profile {profile_name!r} in {path} is unusable: {_first_line(exc)}") from None
    kind = str(data.get("type", ""))
    if kind not in SUPPORTED_TYPES:
        raise ConfigError(
            f"Target {target_name!r} of profile {profile_name!r} is of type {kind!r}; rsync-braze supports "
            f"{', '.join(SUPPORTED_TYPES)} today. Pass --target to pick another target."
        )
    if kind == "duckdb":
        return _duckdb_spec(data, project, profile_name, target_name, path)
    missing = [k for k in ("host", "user", "schema") if not data.get(k)]
    if not (data.get("dbname") or data.get("database")):
        missing.append("dbname")
    if missing:
        raise ConfigError(
            f"Target {target_name!r} of profile {profile_name!r} in {path} lacks {', '.join(missing)}."
        )
    try:
        port = int(data.get("port", 5432))
    except (TypeError, ValueError):
        raise ConfigError(f"Target {target_name!r} in {path}: port {data.get('port')!r} is not a number.") from None
    known = {"type", "host", "port", "user", "pass", "password", "dbname", "database", "schema"}
    return ConnectionSpec(
        type=kind,
        host=str(data["host"]),
        port=port,
        user=str(data["user"]),
        password=str(data.get("password", data.get("pass", "")) or ""),
        dbname=str(data.get("dbname") or data.get("database")),
        schema=str(data["schema"]),
        profile=profile_name,
        target=target_name,
        profiles_path=path,
        extra={k: v for k, v in data.items() if k not in known},
    )


def _duckdb_spec(data: dict, project: Path, profile_name: str, target_name: str, path: Path) -> ConnectionSpec:
    """A dbt-duckdb target: ``path`` is the database file (relative paths as dbt resolves them, from the
    project folder, where dbt runs); ``schema`` defaults to ``main`` as in dbt-duckdb."""
    file = str(data.get("path") or "")
    if not file or file == ":memory:" or file.startswith(("md:", "motherduck:")):
        raise ConfigError(
            f"Target {target_name!r} of profile {profile_name!r} in {path} has path {file or 'unset'!r}: rsync-braze "
            "needs a DuckDB database file (e.g. path: warehouse.duckdb), which the state tables live in too."
        )
    location = Path(file).expanduser()
    location = location if location.is_absolute() else project / location
    known = {"type", "path", "schema", "database"}
    return ConnectionSpec(
        type="duckdb", host="", port=0, user="", dbname=str(location),
        schema=str(data.get("schema") or "main"), profile=profile_name, target=target_name, profiles_path=path,
        extra={"database": data.get("database") or location.stem,
               **{k: v for k, v in data.items() if k not in known and k != "password"}},
    )


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text.replace("Runtime Error", "").replace("Compilation Error", "").strip()
