"""The docs name only things that exist: tests, files, settings."""

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from tests.support import PROJECT_DIR

DOCS = sorted(
    [PROJECT_DIR / "README.md", PROJECT_DIR / "bench" / "README.md", *PROJECT_DIR.glob("docs/*.md")]
)
CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)#\s]+)\)")
FILE = re.compile(r"^[\w.-]+(/[\w.-]+)*\.(py|md|txt|toml|lua|json|html)$|^[\w-]+/([\w.-]+/)*$")
SETTING = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")


def mentions(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for match in pattern.finditer(doc.read_text()):
            found.append((doc.relative_to(PROJECT_DIR).as_posix(), match.group(1)))
    return found


@cache
def defined_test_names() -> set[str]:
    names = set()
    for path in (PROJECT_DIR / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names.add(node.name)
    return names


def test_the_docs_are_found() -> None:
    assert len(DOCS) >= 7
    assert len(mentions(CODE)) > 100


def test_the_readme_fits_on_a_screen_or_two() -> None:
    assert len((PROJECT_DIR / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.relative_to(PROJECT_DIR).as_posix())
def test_every_test_named_in_the_docs_exists(doc: Path) -> None:
    named = {name for name in CODE.findall(doc.read_text()) if re.fullmatch(r"test_\w+", name)}
    assert named - defined_test_names() == set()


def test_every_file_named_in_the_docs_exists() -> None:
    missing = [
        (doc, name)
        for doc, name in mentions(CODE)
        if FILE.match(name)
        and "/" in name
        and not name.startswith("var/")  # made at run time, git-ignored
        and not (PROJECT_DIR / name).exists()
    ]
    missing += [
        (doc, target)
        for doc, target in mentions(LINK)
        if "://" not in target and not (PROJECT_DIR / doc).parent.joinpath(target).exists()
    ]
    assert missing == [], missing


def test_every_setting_named_in_the_docs_is_read_by_the_settings() -> None:
    """By portal/settings.py, or by the Procfile (the address the web server listens on)."""
    settings_source = (PROJECT_DIR / "portal" / "settings.py").read_text() + (
        PROJECT_DIR / "Procfile"
    ).read_text()
    unknown = [
        (doc, name)
        for doc, name in mentions(CODE)
        for word in [name.split("=")[0]]
        if SETTING.match(word) and not re.search(rf"\b{word}\b", settings_source)
    ]
    assert unknown == [], unknown


def test_every_environment_variable_is_documented() -> None:
    settings_source = (PROJECT_DIR / "portal" / "settings.py").read_text()
    read = set(re.findall(r'(?:getenv|env(?:bool|int|float|list))\("([A-Z_]+)"', settings_source))
    documented = set(CODE.findall((PROJECT_DIR / "docs" / "configuration.md").read_text()))
    assert read - documented == set()
