"""The CLI's surface: every command has help with an example and is in the README's command reference."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from reverse_etl.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, path))
    return found


COMMANDS = all_commands(cli)


def test_the_cli_has_the_commands_a_user_reads_about():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"run", "plan", "validate", "warehouse start", "emulator", "serve", "ingest"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p))
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output and len(result.output.splitlines()) > 3


@pytest.mark.parametrize("name", sorted(cli.commands), ids=str)
def test_every_top_level_command_is_in_the_readme_command_reference(name):
    text = README.read_text()
    reference = text[text.index("## Command reference"):]
    reference = reference[:reference.index("\n## ", 5)]
    assert re.search(rf"`rsync-braze {re.escape(name)}\b", reference), f"`rsync-braze {name}` missing from the README"
