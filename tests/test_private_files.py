"""Files that hold password hashes, drafts and keys are closed to other local users."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from homepage.db import get_engine


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run with the usual umask 022, under which new files are world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def database_files(folder: Path) -> list[Path]:
    return [folder / name for name in ("blog.db", "blog.db-wal", "blog.db-shm")]


def others_bits(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode) & 0o007


def test_init_db_creates_a_database_only_its_owner_and_group_read(
    make_app, tmp_path, open_umask
):
    app = make_app(
        bare=True,
        create=False,
        DATABASE_URL=f"sqlite:///{tmp_path / 'blog.db'}",
        SECRET_KEY="x",
    )
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    try:
        # The pool keeps its connections open, so the WAL and SHM are there.
        for path in database_files(tmp_path):
            assert path.exists(), path
            assert others_bits(path) == 0, (
                f"{path}: {stat.filemode(path.stat().st_mode)}"
            )
    finally:
        get_engine(app).dispose()


@pytest.mark.sqlite  # the database file's mode
def test_init_db_closes_an_older_world_readable_database(
    app, runner, tmp_path, open_umask
):
    files = database_files(tmp_path)
    for path in files:
        path.chmod(0o644)

    result = runner.invoke(args=["init-db"])

    assert result.exit_code == 0, result.output
    assert [others_bits(path) for path in files] == [0, 0, 0]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o640


@pytest.mark.sqlite  # a SQLite backup's file mode
def test_a_backup_copy_of_the_database_is_closed_to_other_users(
    app, runner, tmp_path, open_umask
):
    result = runner.invoke(args=["backup", str(tmp_path / "backups" / "today")])

    assert result.exit_code == 0, result.output
    copy = tmp_path / "backups" / "today" / "blog.db"
    assert others_bits(copy) == 0, stat.filemode(copy.stat().st_mode)
