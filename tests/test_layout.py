"""The shape of the code base: one seam to django-q2, tasks named by their functions."""

import ast

import pytest

from taskqueue.enqueue import task_path
from tests.support import PROJECT_DIR

PACKAGES = [
    "portal",
    "accounts",
    "taskqueue",
    "operations",
    "webhooks",
    "throttling",
    "sqlite_backend",
    "bench",
]


def modules_importing(package: str) -> set[str]:
    """Every module of the project (migrations and tests aside) that imports `package`."""
    importing = set()
    for top in PACKAGES:
        for path in (PROJECT_DIR / top).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                if any(name == package or name.startswith(f"{package}.") for name in names):
                    importing.add(str(path.relative_to(PROJECT_DIR)))
    return importing


def test_only_the_taskqueue_package_imports_django_q() -> None:
    importing = modules_importing("django_q")
    assert "taskqueue/broker.py" in importing  # the walk sees imports at all
    assert {module for module in importing if not module.startswith("taskqueue/")} == set()


def test_a_task_is_queued_by_the_path_a_worker_imports_it_by() -> None:
    assert task_path(queueable_example) == "tests.test_layout.queueable_example"


def test_a_function_a_worker_could_not_import_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="cannot be queued"):
        task_path(lambda: None)


def queueable_example() -> None:
    """A module-level function: what a task is."""
