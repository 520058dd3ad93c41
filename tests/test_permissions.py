"""No path from the serving user to root, and backups only the serving user reads.

Each test lays out an installation as docs/deploy.md does: ``instance/`` and
its ``config.py`` root's (group www-data may read them), the database and
backups in a data folder www-data owns. The commands run as real processes,
with the virtualenv's ``flask``, as root or as www-data.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from homepage.ops import COMMANDS

from .modwsgi import SERVE_USER, check_readable_by_server, is_root

pytestmark = [
    # Each command is a new process that starts the app: seconds apiece.
    pytest.mark.slow,
    pytest.mark.skipif(
        not is_root(), reason="becoming www-data needs root (CI runs as root)"
    ),
]

FLASK = Path(sys.executable).parent / "flask"


@dataclass
class Installation:
    """A root-owned folder with ``instance/`` (root's) and ``data/`` (www-data's)."""

    folder: Path

    @property
    def instance(self) -> Path:
        return self.folder / "instance"

    @property
    def config(self) -> Path:
        return self.instance / "config.py"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def flask(self, *args: str, user: str = "root") -> subprocess.CompletedProcess:
        """Run ``flask --app homepage ARGS`` as ``user``, as an admin would."""
        command = [str(FLASK), "--app", "homepage", *args]
        if user != "root":
            command = ["runuser", "-u", user, "--", *command]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            input="",
            cwd=self.folder,
            env={**os.environ, "HOMEPAGE_INSTANCE_PATH": str(self.instance)},
            timeout=120,
            check=False,
        )


def serving_ids() -> tuple[int, int]:
    entry = pwd.getpwnam(SERVE_USER)
    return entry.pw_uid, entry.pw_gid


@pytest.fixture
def installation() -> Iterator[Installation]:
    """Lay out an installation as docs/deploy.md does."""
    check_readable_by_server()
    uid, gid = serving_ids()
    site = Installation(Path(tempfile.mkdtemp(prefix="homepage-permissions-")))
    site.folder.chmod(0o755)
    site.instance.mkdir(mode=0o750)
    os.chown(site.instance, 0, gid)
    site.config.write_text(
        f'SECRET_KEY = "{"k" * 64}"\n'
        f'DATABASE_URL = "sqlite:///{site.data}/blog.db"\n'
        f'UPLOAD_FOLDER = "{site.data}/uploads"\n'
    )
    os.chown(site.config, 0, gid)
    site.config.chmod(0o640)
    site.data.mkdir(mode=0o750)
    os.chown(site.data, uid, gid)
    yield site
    shutil.rmtree(site.folder)


def _config_owned_by_www_data(site: Installation) -> None:
    os.chown(site.config, serving_ids()[0], -1)


def _config_writable_by_its_group(site: Installation) -> None:
    site.config.chmod(0o660)


def _instance_owned_by_www_data(site: Installation) -> None:
    os.chown(site.instance, serving_ids()[0], -1)


def _instance_writable_by_its_group(site: Installation) -> None:
    site.instance.chmod(0o770)


def _no_config_in_a_folder_of_www_data(site: Installation) -> None:
    site.config.unlink()
    os.chown(site.instance, serving_ids()[0], -1)


def _installation_folder_of_www_data(site: Installation) -> None:
    os.chown(site.folder, serving_ids()[0], -1)


WAYS_IN: dict[str, Callable[[Installation], None]] = {
    "config.py is www-data's": _config_owned_by_www_data,
    "config.py is writable by group www-data": _config_writable_by_its_group,
    "instance/ is www-data's": _instance_owned_by_www_data,
    "instance/ is writable by group www-data": _instance_writable_by_its_group,
    "no config.py, in a folder of www-data": _no_config_in_a_folder_of_www_data,
    "the folder above instance/ is www-data's": _installation_folder_of_www_data,
}

#: Every command, with arguments it would otherwise accept.
COMMAND_LINES = {
    "init-db": ["init-db"],
    "first-run": ["first-run"],
    "add-author": ["add-author", "mallory", "--password-stdin"],
    "set-role": ["set-role", "alice", "owner"],
    "set-password": ["set-password", "alice", "--password-stdin"],
    "doctor": ["doctor", "--user", SERVE_USER],
    "backup": ["backup"],
    "restore": ["restore", "--yes", "/"],
    "copy-db": ["copy-db", "--to", "sqlite:////var/tmp/homepage-permissions-copy.db"],
    "export": ["export", "/var/tmp/homepage-permissions-export.zip"],
    "import": ["import", "/var/tmp/homepage-permissions-import.zip"],
    "import-wordpress": [
        "import-wordpress",
        "/var/tmp/homepage-permissions-wordpress.xml",
    ],
    "rerender": ["rerender", "--all"],
    "process-images": ["process-images", "--all"],
    "db": ["db", "upgrade"],
}


def assert_refused(result: subprocess.CompletedProcess, site: Installation) -> None:
    """Check that root was refused with a message, no traceback, nothing done."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "can be changed by a user other than root" in result.stderr
    assert "runuser -u www-data" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(site.data.iterdir()) == []


def test_every_command_line_is_listed():
    assert set(COMMAND_LINES) == {command.name for command in COMMANDS}


def test_root_runs_commands_when_only_root_can_change_the_settings(installation):
    result = installation.flask("doctor", "--user", SERVE_USER)

    # The database does not exist yet: doctor runs and says so.
    assert "does not exist yet" in result.stdout, result.stdout + result.stderr
    assert "can be changed" not in result.stderr
    assert installation.flask("init-db", "--help").returncode == 0


@pytest.mark.parametrize("way_in", WAYS_IN.values(), ids=WAYS_IN)
def test_root_refuses_settings_the_serving_user_could_change(installation, way_in):
    way_in(installation)

    assert_refused(installation.flask("doctor", "--user", SERVE_USER), installation)


@pytest.mark.parametrize("name", COMMAND_LINES)
def test_every_command_run_by_root_refuses_them(installation, name):
    _instance_owned_by_www_data(installation)

    assert_refused(installation.flask(*COMMAND_LINES[name]), installation)


def test_the_serving_user_still_runs_every_command_it_needs(installation):
    _instance_owned_by_www_data(installation)

    result = installation.flask("init-db", user=SERVE_USER)

    # Only root is in danger from a file that www-data wrote.
    assert result.returncode == 0, result.stdout + result.stderr


def private_modes(folder: Path) -> dict[str, tuple[str, str]]:
    """Return the owner and mode of every file and folder of a backup."""
    return {
        str(path.relative_to(folder.parent)): (
            pwd.getpwuid(path.stat().st_uid).pw_name,
            stat.filemode(path.stat().st_mode),
        )
        for path in [folder, *folder.rglob("*")]
    }


def test_www_data_backs_up_twice_a_day_into_folders_only_it_reads(installation):
    site = installation
    assert site.flask("init-db", user=SERVE_USER).returncode == 0

    first = site.flask("backup", user=SERVE_USER)
    second = site.flask("backup", user=SERVE_USER)

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    backups = site.data / "backups"
    made = sorted(backups.iterdir())
    assert len(made) == 2
    assert [f"to {path};" in first.stdout + second.stdout for path in made] == [
        True,
        True,
    ]
    assert stat.filemode(backups.stat().st_mode) == "drwx------"
    for folder in made:
        for name, (owner, mode) in private_modes(folder).items():
            assert owner == SERVE_USER, name
            assert mode in ("drwx------", "-rw-------"), (name, mode)
    # Nobody else, not even www-data's group, reads the password hashes.
    copy = made[0] / "blog.db"
    assert subprocess.run(
        ["runuser", "-u", "nobody", "--", "test", "-r", copy]
    ).returncode


def test_www_data_is_told_why_it_cannot_back_up_to_a_folder_of_root(installation):
    site = installation
    assert site.flask("init-db", user=SERVE_USER).returncode == 0
    target = Path("/var/backups") / f"{site.folder.name}" / "today"

    result = site.flask("backup", str(target), user=SERVE_USER)

    assert result.returncode == 1
    assert f"Error: cannot create {target.parent}: Permission denied" in result.stderr
    assert "Traceback" not in result.stderr
    assert not target.parent.exists()
