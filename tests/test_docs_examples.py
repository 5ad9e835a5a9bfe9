"""The examples in the docs work: agents.yaml examples validate, README commands parse.

Every ```yaml block of docs/*.md that is a whole agents.yaml (it has `agents:`) is validated by
smart_support.registry, and its `python:` references import. Every command of the README's
```bash blocks (and the inline `... | smart-support chat` example) names a real subcommand, and
the CLI parses its arguments; `make` lines name a real Makefile target.
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from smart_support.cli import main
from smart_support.registry import read_registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
README = ROOT / "README.md"
ASSIGNMENT = re.compile(r"^[A-Z][A-Z0-9_]*=")


def fenced_blocks(path: Path, language: str) -> list[tuple[int, str]]:
    """(line, text) of every ```language block in the Markdown file `path`."""
    blocks = []
    pattern = re.compile(rf"^```{language}\n(.*?)^```", re.S | re.M)
    text = path.read_text(encoding="utf-8")
    for match in pattern.finditer(text):
        blocks.append((text.count("\n", 0, match.start()) + 2, match.group(1)))
    return blocks


def agents_yaml_examples() -> list[tuple[str, str]]:
    """(file:line, text) of every docs example that is a whole agents.yaml."""
    examples = []
    for path in DOCS:
        for line, block in fenced_blocks(path, "yaml"):
            if re.search(r"^agents:", block, re.M):
                examples.append((f"{path.name}:{line}", block))
    return examples


def readme_commands() -> list[str]:
    commands = []
    for _, block in fenced_blocks(README, "bash"):
        commands += [line.strip() for line in block.splitlines() if line.strip()]
    text = README.read_text(encoding="utf-8")
    commands += [m for m in re.findall(r"`([^`\n]+)`", text) if "| smart-support " in m]
    return commands


def test_the_docs_have_agents_yaml_examples_to_check() -> None:
    assert [where for where, _ in agents_yaml_examples()], "the extraction found no example"
    assert {"make", "smart-support"} <= {
        shlex.split(c, comments=True)[0] for c in readme_commands()
    }


@pytest.mark.parametrize(
    ("where", "text"), [pytest.param(*example, id=example[0]) for example in agents_yaml_examples()]
)
def test_every_agents_yaml_example_in_the_docs_validates(
    where: str, text: str, tmp_path: Path
) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(text, encoding="utf-8")
    registry, errors = read_registry(path)
    assert errors == [], f"docs/{where}: " + "; ".join(str(e) for e in errors)
    assert registry is not None
    for agent in yaml.safe_load(text)["agents"]:
        for entry in agent.get("tools") or []:
            if "python" in entry:
                module, _, function = entry["python"].partition(":")
                target = importlib.import_module(module)
                assert callable(getattr(target, function, None)), f"{where}: {entry['python']}"


def _subcommand(words: list[str]) -> tuple[click.Command, list[str], list[str]]:
    """The click command `words` names, its path, and the arguments left for it."""
    command: click.Command = main
    path: list[str] = []
    while isinstance(command, click.Group) and words:
        if words[0] not in command.commands and getattr(command, "default_command", None):
            words.insert(0, command.default_command)  # type: ignore[attr-defined]
        if words[0] not in command.commands:
            break
        path.append(words[0])
        command = command.commands[words.pop(0)]
    return command, path, words


@pytest.mark.parametrize("line", readme_commands())
def test_every_readme_command_is_one_the_cli_or_makefile_knows(line: str) -> None:
    for command in line.split("|"):
        words = shlex.split(command, comments=True)
        if words and words[-1] == "&":  # run in the background
            words.pop()
        if words and words[0] == "export":
            assert all(ASSIGNMENT.match(w) for w in words[1:]), line
            continue
        while words and ASSIGNMENT.match(words[0]):  # VAR=value smart-support ...
            words.pop(0)
        if not words or words[0] in ("echo", "printf"):
            continue
        if words[0] == "make":
            targets = re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M)
            assert set(words[1:]) <= set(targets), line
            continue
        assert words[0] == "smart-support", line
        cli, path, rest = _subcommand(words[1:])
        assert path and not isinstance(cli, click.Group), f"{line}: no such subcommand"
        help_text = CliRunner().invoke(main, [*path, "--help"])
        assert help_text.exit_code == 0 and "Usage:" in help_text.output, help_text.output
        arguments = [w for w in rest if not (w.startswith("[") and w.endswith("]"))]
        cli.make_context(" ".join(["smart-support", *path]), arguments)  # raises on a bad usage
