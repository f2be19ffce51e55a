"""The docs stay true: every ``ncm`` command they show exists (with the options they show),
and every repository path they name exists.

Commands are read from the code blocks of README.md and docs/*.md. A line
``ncm a b ARG | c ARG`` shows ``ncm a b`` and its sibling ``ncm a c``, and ``ncm a b|c ARG``
shows both too; each runs ``--help``
in-process, and each ``--option`` written after it must be one of the command's options.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import tests.cli.helpers  # noqa: F401 (the app's click command, built once)
from ncm.cli.main import app

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PATH_ROOTS = ("ncm/", "tests/", "docs/", "bench/", "migrations/", "scripts/")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
COMMAND = re.compile(r"^\s*(?:\$\s+)?(?:\.venv/bin/)?ncm\s+(.*)$")


@dataclass(frozen=True)
class Example:
    where: str  # file:line
    words: tuple[str, ...]  # after ``ncm``, one alternative of the line

    def __str__(self) -> str:
        return f"{self.where}: ncm {' '.join(self.words)}"


def _examples() -> list[Example]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in FENCE.finditer(text):
            first_line = text.count("\n", 0, block.start(1)) + 1
            for offset, line in enumerate(block.group(1).splitlines()):
                match = COMMAND.match(line.split("  #")[0].split(" # ")[0])
                if not match:
                    continue
                where = f"{doc.relative_to(ROOT)}:{first_line + offset}"
                alternatives = [part.split() for part in match.group(1).split(" | ")]
                parent = _group_words(alternatives[0])
                for i, alt in enumerate(alternatives):
                    if alt:
                        words = alt if i == 0 else [*parent, *alt]
                        found += [Example(where, tuple(w)) for w in _spelled_out(words)]
    return found


def _spelled_out(words: list[str]) -> list[list[str]]:
    """``campaigns submit|approve ID`` stands for ``campaigns submit ID`` and
    ``campaigns approve ID``: a command word written as choices, one example each."""
    for i, word in enumerate(words):
        if "|" in word and not word.startswith(("-", "[")) and word[0].islower():
            return [[*words[:i], choice, *words[i + 1 :]] for choice in word.split("|") if choice]
    return [words]


def _is_group(command: Any) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


@functools.cache
def _cli() -> Any:
    """The click command Typer builds from the app (once: building it walks every command)."""
    return typer.main.get_command(app)


def _resolve(words: tuple[str, ...] | list[str]) -> tuple[list[str], Any, list[str]]:
    """The command path the words name, the command, and the words after it."""
    command: Any = _cli()
    path: list[str] = []
    for i, word in enumerate(words):
        if not _is_group(command):
            return path, command, list(words[i:])
        sub = command.commands.get(word)
        if sub is None:
            return path, command, list(words[i:])
        path.append(word)
        command = sub
    return path, command, []


def _group_words(words: list[str]) -> list[str]:
    """The group part of ``ncm a b c ...``: the words that name groups."""
    path, command, _ = _resolve(words)
    return path if _is_group(command) else path[:-1]


EXAMPLES = _examples()


def test_the_docs_show_commands() -> None:
    assert len(EXAMPLES) > 20, [str(e) for e in EXAMPLES]


def _problems(example: Example, helped: dict[tuple[str, ...], str]) -> list[str]:
    path, command, rest = _resolve(example.words)
    if not path:
        return [f"{example}: not an ncm command"]
    if _is_group(command) and rest not in ([], ["--help"]):
        return [
            f"{example}: `ncm {' '.join(path)}` has no command {rest[0] if rest else '(none)'}; "
            f"it has {sorted(command.commands)}"
        ]
    key = tuple(path)
    if key not in helped:  # each command's --help runs once
        result = CliRunner().invoke(app, [*path, "--help"])
        helped[key] = "" if result.exit_code == 0 else result.output
    problems = [f"{example}: --help failed: {helped[key]}"] if helped[key] else []
    options = {name for param in command.params for name in param.opts + param.secondary_opts}
    for word in rest:
        name = word.strip("[]").split("=")[0]
        if name.startswith("--") and name != "--help" and name not in options:
            problems.append(f"{example}: `ncm {' '.join(path)}` has no option {name}")
    return problems


def test_every_documented_command_exists() -> None:
    helped: dict[tuple[str, ...], str] = {}
    problems = [problem for example in EXAMPLES for problem in _problems(example, helped)]
    assert not problems, "\n".join(problems)


def _backticked_paths(text: str) -> list[str]:
    paths = []
    for span in re.findall(r"`([^`\n]+)`", text):
        for word in span.split():
            word = word.strip("()[],;:'\"")
            if word.startswith("../"):
                paths.append(word)
            if not word.startswith(PATH_ROOTS) or re.search(r"[<>{}*$]", word):
                continue
            paths.append(word.split("::")[0].rstrip("."))
    return paths


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_path_the_docs_name_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    outside = re.findall(r"\]\((\.\./[^)]*)\)", text)
    assert not outside, f"{doc.name} links outside the repository: {outside}"
    missing = []
    for path in _backticked_paths(text):
        if path.startswith("../") or not (ROOT / path).exists():
            missing.append(path)
    assert not missing, f"{doc.name} names paths that do not exist: {sorted(set(missing))}"
