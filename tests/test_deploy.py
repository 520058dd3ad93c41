"""docs/deploy.md followed to the letter, as root, on this machine's own Apache.

The guide's shell blocks run as written; only the values of its step 0 (host
name, port, folders, repository) differ, and the repository is a clone of this
checkout. The run happens in a private mount namespace over a copy of
/etc/apache2 (and of Apache's run, lock and log folders) whose only Listen is a
free loopback port, so the machine's own Apache, its sites and port 80 are never
touched. Then an author logs in and publishes, operations.md's backup and
restore run, the site upgrades to a newer commit that adds a column, and the
guide runs a second time, changing nothing and logging nobody out.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from .modwsgi import PROJECT_ROOT, free_port, is_root

pytestmark = [
    pytest.mark.deploy,
    # apt-get, pip and building mod_wsgi twice over: longer than other tests.
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not is_root(), reason="the guide is written for root (CI runs as root)"
    ),
]

SITE = "deploy-test.example.org"
OWNER = "alice"
#: Apache's folders that the guide or Apache itself write, each replaced by a
#: private copy inside the namespace.
APACHE_FOLDERS = (
    "/etc/apache2",
    "/var/log/apache2",
    "/run/apache2",
    "/run/lock/apache2",
)
#: Besides these, the scripts get a plain root login's environment.
PASSED_ON = re.compile(r"(PIP_|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*>')


def shell_blocks(markdown: Path) -> list[tuple[str, str]]:
    """Return each ```sh block of a Markdown file with the heading above it."""
    blocks, heading = [], ""
    lines = iter(markdown.read_text().splitlines())
    for line in lines:
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.strip() == "```sh":
            code = []
            for inner in lines:
                if inner.strip() == "```":
                    break
                code.append(inner)
            blocks.append((heading, "\n".join(code) + "\n"))
    return blocks


def section(markdown: Path, heading: str) -> str:
    """Return the shell blocks under the headings that start with ``heading``."""
    found = [
        code for title, code in shell_blocks(markdown) if title.startswith(heading)
    ]
    assert found, f"{markdown} has no shell block under {heading!r}"
    return "".join(found)


@dataclass
class Install:
    """Where the guide installs the blog this time, and how to run its blocks."""

    scratch: Path
    app: Path
    data: Path
    port: int
    repo: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def values(self) -> dict[str, str]:
        """Return the guide's step 0 values, ours."""
        return {
            "SITE": SITE,
            "PORT": str(self.port),
            "APP": str(self.app),
            "DATA": str(self.data),
            "REPO": str(self.repo),
        }

    def step_zero(self) -> str:
        """Return step 0 of the guide with our values in place of its examples."""
        block = section(DEPLOY, "0.")
        for name, value in self.values().items():
            block, found = re.subn(
                rf"^{name}=\S+", f"{name}={shlex.quote(value)}", block, flags=re.M
            )
            assert found == 1, f"step 0 of docs/deploy.md does not set {name}"
        return block

    def run(self, script: str, name: str, stdin: str = "") -> str:
        """Run ``script`` as root in the private namespace; return its output."""
        mounts = "".join(
            f"mkdir -p {folder}\n"
            f"mount --bind {self.scratch / folder.strip('/').replace('/', '-')} "
            f"{folder}\n"
            for folder in APACHE_FOLDERS
        )
        log = self.scratch / f"{name}.log"
        environment = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "SHELL": "/bin/bash",
            "USER": "root",
            "LOGNAME": "root",
            "DEBIAN_FRONTEND": "noninteractive",
            **{key: value for key, value in os.environ.items() if PASSED_ON.match(key)},
        }
        # To a file, not a pipe: Apache, started by the script, outlives it.
        with log.open("w") as output:
            done = subprocess.run(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "bash",
                    "-c",
                    f"set -euo pipefail\n{mounts}set -x\n{script}",
                ],
                input=stdin,
                text=True,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd="/",
                timeout=600,
                check=False,
            )
        printed = log.read_text(errors="replace")
        assert done.returncode == 0, f"{name} failed:\n{printed[-6000:]}"
        return printed

    def www_data(self, *command: str) -> subprocess.CompletedProcess:
        """Run a command as www-data, as the guide runs its flask commands."""
        return subprocess.run(
            ["runuser", "-u", "www-data", "--", *command],
            capture_output=True,
            text=True,
            check=False,
        )


DEPLOY = PROJECT_ROOT / "docs" / "deploy.md"
OPERATIONS = PROJECT_ROOT / "docs" / "operations.md"


def make_repository(path: Path) -> None:
    """Make a git repository of this checkout's files, one commit."""
    shutil.copytree(
        PROJECT_ROOT,
        path,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".mod_wsgi",
            "__pycache__",
            "*.egg-info",
            "instance",
            "blog.db*",
            ".pytest_cache",
            ".ruff_cache",
            ".mypy_cache",
            ".hypothesis",
            "build",
            "dist",
        ),
    )
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "The version the guide installs first")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        [
            "git",
            "-c",
            "user.name=Deploy test",
            "-c",
            "user.email=test@example.org",
            "-C",
            str(repo),
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


#: The revision a newer version ships with its new column, as a developer
#: writes one (docs/operations.md, "Upgrading the schema").
NEW_REVISION = '''"""Posts get an upgrade note."""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("upgrade_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("upgrade_note")
'''


def add_a_column(repo: Path) -> str:
    """Commit a newer version whose model has a column, and the revision adding it."""
    models = repo / "homepage" / "core" / "models.py"
    text = models.read_text()
    anchor = '    __tablename__ = "posts"\n'
    assert anchor in text
    models.write_text(
        text.replace(
            anchor,
            anchor + "    upgrade_note: Mapped[str | None] = mapped_column(Text)\n",
        )
    )
    versions = repo / "homepage" / "core" / "migrations" / "versions"
    heads = sorted(path.stem for path in versions.glob("r*.py"))
    head = re.match(r"r(\d+)_", heads[-1])
    assert head is not None, heads
    (versions / "r9001_upgrade_note.py").write_text(NEW_REVISION.format(head=head[1]))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Posts get an upgrade note")
    return git(repo, "rev-parse", "HEAD")


def private_apache(scratch: Path, port: int) -> None:
    """Copy Apache's folders for the namespace; no Listen but the guide's."""
    for folder in APACHE_FOLDERS:
        copy = scratch / folder.strip("/").replace("/", "-")
        if folder == "/etc/apache2":
            shutil.copytree(folder, copy, symlinks=True)
        else:
            copy.mkdir()
    ports = scratch / "etc-apache2" / "ports.conf"
    # A fresh server's Listen 80 and 443 would reach beyond this test.
    ports.write_text("# Listen lines removed by tests/test_deploy.py\n")
    (scratch / "var-log-apache2").chmod(0o750)
    # Apache's pid file and mod_wsgi's sockets: www-data passes through.
    (scratch / "run-apache2").chmod(0o755)
    (scratch / "run-lock-apache2").chmod(0o755)


@pytest.fixture
def install() -> Iterator[Install]:
    """Choose fresh folders and a port; stop Apache and remove them afterwards."""
    for tool in ("apache2", "unshare", "git", "runuser"):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            pytest.fail(f"{tool} is missing; .ci/run installs it", pytrace=False)
    scratch = Path(tempfile.mkdtemp(prefix="homepage-deploy-", dir="/var/tmp"))
    name = scratch.name
    port = free_port()
    made = [Path(folder) for folder in APACHE_FOLDERS if not Path(folder).exists()]
    site = Install(
        scratch=scratch,
        app=Path("/srv") / name,
        data=Path("/var/lib") / name,
        port=port,
        repo=scratch / "homepage.git",
    )
    make_repository(site.repo)
    private_apache(scratch, port)
    try:
        yield site
    finally:
        stop_apache(site)
        for folder in (site.app, site.data, scratch):
            shutil.rmtree(folder, ignore_errors=True)
        for folder in made:
            try:
                folder.rmdir()
            except OSError:
                pass


def stop_apache(site: Install) -> None:
    """Stop the namespace's Apache and wait until its processes are gone."""
    pid_file = site.scratch / "run-apache2" / "apache2.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    try:
        site.run("apachectl stop", "stop")
    except AssertionError:
        os.kill(pid, 15)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, 9)


class Browser:
    """A reader's or author's browser that asks for the site by name."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.headers["Host"] = SITE

    def get(self, path: str, **options) -> requests.Response:
        return self.http.get(self.url + path, timeout=60, **options)

    def post(self, path: str, data: dict) -> requests.Response:
        return self.http.post(
            self.url + path, data=data, allow_redirects=False, timeout=60
        )

    def log_in(self, password: str) -> None:
        page = self.get("/admin/login").text
        response = self.post(
            "/admin/login",
            {
                "username": OWNER,
                "password": password,
                "csrf_token": _CSRF.search(page).group(1),
            },
        )
        assert response.status_code == 302, response.text

    def logged_in(self) -> bool:
        return self.get("/admin/", allow_redirects=False).status_code == 200

    def publish(self, title: str) -> None:
        form = self.get("/admin/posts/new").text
        data = {
            match.group(1): match.group(2)
            for tag in _HIDDEN.findall(form)
            if (match := re.search(r'name="([^"]+)"[^>]*value="([^"]*)"', tag))
        }
        data.update(
            title=title,
            slug="",
            body=f"{title}, published through Apache.",
            summary="",
            tags="deploy",
            status="published",
            action="save",
        )
        response = self.post("/admin/posts/new", data)
        assert response.status_code == 302, response.text[-3000:]


def password_of_owner(output: str) -> str:
    found = re.search(r"password:\s+(\S+)", output)
    assert found, output[-3000:]
    return found.group(1)


def snapshot(site: Install) -> dict[str, object]:
    """Return what a second run of the guide must leave as it is."""
    files = [
        site.app / "instance" / "config.py",
        Path(site.scratch / "etc-apache2" / "sites-available" / "homepage.conf"),
        Path(site.scratch / "etc-apache2" / "ports.conf"),
        Path(site.scratch / "etc-apache2" / "mods-available" / "wsgi.load"),
    ]
    state: dict[str, object] = {
        str(path): (path.read_bytes(), oct(path.stat().st_mode), path.stat().st_uid)
        for path in files
    }
    state["commit"] = git(site.app, "rev-parse", "HEAD")
    state["enabled"] = sorted(
        os.listdir(site.scratch / "etc-apache2" / "sites-enabled")
    )
    return state


def writable_by_www_data(site: Install, folder: Path) -> list[str]:
    found = site.www_data("find", str(folder), "-writable")
    return found.stdout.split()


def test_the_guide_deploys_upgrades_and_reruns_as_written(install: Install):
    site = install
    guide = site.step_zero() + "".join(
        section(DEPLOY, f"{step}.") for step in range(1, 8)
    )

    # A fresh server, step by step: the guide's own last line asked for the
    # home page by name and got 200.
    output = site.run(guide, "first-run")
    assert re.search(r"^200$", output, re.M), output[-3000:]
    assert "All 10 checks passed." in output
    assert "AH00558" not in output
    password = password_of_owner(output)

    reader = Browser(site.url)
    home = reader.get("/")
    assert home.status_code == 200 and "My blog" in home.text
    assert (
        Browser(site.url)
        .http.get(site.url + "/", timeout=60, headers={"Host": "elsewhere.example.org"})
        .status_code
        == 400
    )
    daemons = subprocess.run(
        ["ps", "-o", "user=", "-C", "apache2"], capture_output=True, text=True
    ).stdout
    assert "www-data" in daemons

    # Static files: the app's headers, and a 304 for a compressed file's ETag.
    stylesheet = reader.get("/static/style.css", headers={"Accept-Encoding": "gzip"})
    assert stylesheet.status_code == 200
    assert stylesheet.headers["Content-Encoding"] == "gzip"
    assert stylesheet.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in stylesheet.headers["Content-Security-Policy"]
    etag = stylesheet.headers["ETag"]
    assert "gzip" not in etag
    again = reader.get(
        "/static/style.css",
        headers={"Accept-Encoding": "gzip", "If-None-Match": etag},
    )
    assert again.status_code == 304

    # An author logs in and publishes.
    author = Browser(site.url)
    author.log_in(password)
    author.publish("Deployed by the guide")
    assert "Deployed by the guide" in reader.get("/").text

    # www-data cannot change anything root runs: code, virtualenv, settings.
    assert writable_by_www_data(site, site.app) == []
    config = site.app / "instance" / "config.py"
    assert (config.stat().st_uid, oct(config.stat().st_mode & 0o777)) == (0, "0o640")
    assert site.www_data("sh", "-c", f"echo x >> {config}").returncode != 0
    # ...which is what lets root run a command; one that another user could
    # have changed is refused, with a message and no traceback.
    flask = [str(site.app / ".venv" / "bin" / "flask"), "--app", "homepage"]
    as_root = subprocess.run(
        [*flask, "doctor", "--user", "www-data"],
        capture_output=True,
        text=True,
        cwd=site.app,
        check=False,
    )
    assert as_root.returncode == 0, as_root.stdout + as_root.stderr
    os.chown(site.app / "instance", pwd.getpwnam("www-data").pw_uid, -1)
    try:
        refused = subprocess.run(
            [*flask, "init-db"],
            capture_output=True,
            text=True,
            cwd=site.app,
            check=False,
        )
    finally:
        os.chown(site.app / "instance", 0, -1)
    assert refused.returncode == 1
    assert "can be changed by a user other than root" in refused.stderr
    assert "Traceback" not in refused.stderr

    # operations.md's backup, as www-data; then a post it does not hold.
    backup_block = operations_block("Backups", 0, site)
    printed = site.run(backup_block, "backup")
    folder = Path(re.search(r" to (\S+); integrity check: ok", printed).group(1))
    assert folder.parent == site.data / "backups"
    assert_private_backup(folder)
    second = site.run(backup_block, "backup-again")
    assert re.search(r" to (\S+); integrity check: ok", second).group(1) != str(folder)
    author.publish("Written after the backup")

    restore_block = operations_block("Backups", 1, site).replace(
        EXAMPLE_BACKUP, folder.name
    )
    site.run(restore_block, "restore", stdin="y\n")
    home = reader.get("/").text
    assert "Deployed by the guide" in home and "Written after the backup" not in home
    assert not author.logged_in()  # a restore logs everyone out
    author.log_in(password)

    # An upgrade to a newer commit whose model has a new column.
    newer = add_a_column(site.repo)
    upgrade = site.step_zero() + section(DEPLOY, "Re-running and upgrading")
    output = site.run(upgrade, "upgrade")
    assert "All 10 checks passed." in output
    assert git(site.app, "rev-parse", "HEAD") == newer
    columns = site.www_data(
        "sqlite3",
        str(site.data / "blog.db"),
        "SELECT name FROM pragma_table_info('posts')",
    ).stdout.split()
    assert "upgrade_note" in columns
    assert "Deployed by the guide" in reader.get("/").text
    assert author.logged_in()
    assert len(list((site.data / "backups").iterdir())) >= 3

    # The whole guide again: nothing changes, nobody is logged out.
    before = snapshot(site)
    output = site.run(guide, "second-run")
    assert "An author already exists" in output
    assert snapshot(site) == before
    assert author.logged_in()
    assert "Deployed by the guide" in reader.get("/").text
    error_log = site.scratch / "var-log-apache2" / "homepage-error.log"
    assert "Traceback" not in error_log.read_text(errors="replace")


#: The backup folder operations.md shows in its restore command.
EXAMPLE_BACKUP = "2026-03-05T031700Z"


def operations_block(heading: str, index: int, site: Install) -> str:
    """Return a block of operations.md for our folders instead of its examples."""
    blocks = [code for title, code in shell_blocks(OPERATIONS) if title == heading]
    block = blocks[index]
    return block.replace("/srv/homepage", str(site.app)).replace(
        "/var/lib/homepage", str(site.data)
    )


def assert_private_backup(folder: Path) -> None:
    """Check that a backup is www-data's alone: folders 0700, files 0600."""
    for path in [folder, *folder.rglob("*")]:
        info = path.stat()
        assert pwd.getpwuid(info.st_uid).pw_name == "www-data", path
        expected = 0o700 if path.is_dir() else 0o600
        assert info.st_mode & 0o777 == expected, (path, oct(info.st_mode))
