"""The README documents what a new user needs: every setting, the two commands, the URLs."""

from __future__ import annotations

from pathlib import Path

from server.settings import DOCUMENTED

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    rows = {
        line.split("|")[1].strip(" `")
        for line in README.splitlines()
        if line.startswith("| `EHOME_")
    }
    assert rows == {name for name, _default, _meaning in DOCUMENTED}
    for name, default, _meaning in DOCUMENTED:
        row = next(line for line in README.splitlines() if line.startswith(f"| `{name}`"))
        assert default in row, f"{name}: the README's default differs from the code's ({default})"


def test_readme_names_the_two_commands_and_the_urls() -> None:
    for text in ("make run", "make test", "/graphql", "/healthz", "http://127.0.0.1:8000"):
        assert text in README
