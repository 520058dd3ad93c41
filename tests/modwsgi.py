"""Start and stop a real Apache with mod_wsgi, for the tests and bench/.

The server listens on a free port of 127.0.0.1 only. When started as root it serves
as ``www-data``, as a real deployment would, so every file it needs must be readable
by that user and the database's folder writable by it.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The account Apache serves as when started by root (Debian's default).
SERVE_USER = "www-data"

#: mod_wsgi-express names its daemon processes ``(wsgi:GROUP...)``.
PROCESS_GROUP = "homepage"


class ServerError(RuntimeError):
    """The server could not be started; the message says why and what to do."""


def is_root() -> bool:
    """Tell whether this process runs as root."""
    return os.geteuid() == 0


def serving_user() -> str:
    """Return the user Apache's daemons will run as."""
    return SERVE_USER if is_root() else pwd.getpwuid(os.geteuid()).pw_name


def mod_wsgi_express() -> Path:
    """Return this virtualenv's ``mod_wsgi-express``.

    :raise ServerError: when it is not installed.
    """
    candidate = Path(sys.executable).parent / "mod_wsgi-express"
    if candidate.exists():
        return candidate
    found = shutil.which("mod_wsgi-express")
    if found:
        return Path(found)
    raise ServerError(
        "mod_wsgi-express is not installed in this virtualenv. Run `make install` "
        "(it installs Apache's apache2-dev with scripts/system-deps.sh, then "
        "pip install 'mod_wsgi>=5.0')."
    )


def check_readable_by_server() -> None:
    """Make sure the serving user can read the code and the interpreter.

    :raise ServerError: when it cannot, e.g. for a checkout under ``/root``.
    """
    if not is_root():
        return
    for path in (PROJECT_ROOT / "homepage.wsgi", Path(sys.executable).resolve()):
        check = subprocess.run(["runuser", "-u", SERVE_USER, "--", "test", "-r", path])
        if check.returncode != 0:
            raise ServerError(
                f"{SERVE_USER} cannot read {path}, so Apache cannot serve this "
                "checkout. Clone it into a world-readable folder, build the "
                "virtualenv with /usr/bin/python3, or run `bash .ci/run`, which "
                "copies the checkout to /var/tmp/homepage-ci first."
            )


def make_data_dir(prefix: str) -> Path:
    """Create a temporary folder that the serving user owns and can write.

    Not under pytest's ``tmp_path``: that lives in ``/tmp/pytest-of-root``, whose
    mode 0700 keeps ``www-data`` out.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    give_to_server(path)
    return path


def give_to_server(path: Path) -> None:
    """Hand ``path`` and everything below it to the serving user."""
    if not is_root():
        return
    entry = pwd.getpwnam(SERVE_USER)
    for folder, _dirs, files in os.walk(path):
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def log_in(url: str, username: str, password: str) -> tuple[requests.Session, str]:
    """Log in through the form; return the browser session and a CSRF token.

    The token belongs to the login session and stays valid as long as it does.
    """
    http = requests.Session()
    page = http.get(f"{url}/admin/login", timeout=30).text
    response = http.post(
        f"{url}/admin/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": _CSRF.search(page).group(1),
        },
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302:
        raise ServerError(f"login failed with {response.status_code}")
    form = http.get(f"{url}/admin/posts/new", timeout=30).text
    return http, _CSRF.search(form).group(1)


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ApacheServer:
    """An Apache we started: its parent process, its mod_wsgi daemons, its log.

    Subclasses say which command starts Apache in the foreground.
    """

    def __init__(
        self,
        root: Path,
        *,
        processes: int,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.server_root = root / "apache"
        self.processes = processes
        self.env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    @property
    def error_log_path(self) -> Path:
        return self.server_root / "error_log"

    @property
    def output_path(self) -> Path:
        return self.server_root.parent / f"{type(self).__name__}.log"

    def command(self) -> list[str]:
        """Return the command that runs Apache in the foreground."""
        raise NotImplementedError

    def start(self, timeout: float = 60.0, *, probe: bool = True) -> None:
        """Start Apache and wait until the application answers.

        :param probe: send requests to find out; without, only wait until every
            daemon process runs, so that the app has not seen a request yet.
        """
        check_readable_by_server()
        self.server_root.mkdir(parents=True, exist_ok=True)
        command = self.command()
        output = self.output_path.open("wb")
        # Apache hands its environment down to the mod_wsgi daemons, which is
        # how a test's database and key reach the app. Its own session, so that
        # stop() can end exactly this server's processes.
        self.process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        output.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"Apache exited early:\n{self.logs()}")
            daemons_up = len(self.daemon_pids()) == self.processes
            if daemons_up and not probe:
                return
            try:
                if requests.get(self.url + "/", timeout=5).status_code < 500:
                    if daemons_up:
                        return
            # A daemon still importing the app on a busy machine can take
            # longer than the probe's timeout to answer its first request.
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerError(
            f"Apache did not answer within {timeout:.0f} s:\n{self.logs()}"
        )

    def stop(self, timeout: float = 20.0) -> None:
        """Stop Apache and its daemons: SIGTERM first, SIGKILL if they linger."""
        if self.process is None or self.process.poll() is not None:
            return
        # The Popen process is Apache's parent (mod_wsgi-express execs into it);
        # SIGTERM makes it stop its children and exit.
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def daemon_pids(self) -> list[int]:
        """Return the process ids of the running mod_wsgi daemon processes."""
        if self.process is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            # The parent id is the fourth field, after "pid (comm) state".
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            is_daemon = cmdline.startswith(f"(wsgi:{PROCESS_GROUP}".encode())
            if parent == self.process.pid and is_daemon:
                pids.append(int(entry.name))
        return sorted(pids)

    def wait_for_daemons(self, without: Sequence[int] = (), timeout: float = 30.0):
        """Wait until all daemons run again, none of them one of ``without``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.daemon_pids()
            if len(pids) == self.processes and not set(pids) & set(without):
                return pids
            time.sleep(0.1)
        raise AssertionError(f"daemons did not come back: {self.daemon_pids()}")

    def error_log(self) -> str:
        """Return Apache's error log, where the daemons' stderr goes too."""
        try:
            return self.error_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def python_tracebacks(self) -> list[str]:
        """Return the error log lines that start a Python traceback."""
        return [line for line in self.error_log().splitlines() if "Traceback" in line]

    def logs(self) -> str:
        """Return what the server printed and logged, for failure messages."""
        output = self.output_path
        printed = output.read_text(errors="replace") if output.exists() else ""
        return f"{printed}\n--- error_log ---\n{self.error_log()}"


class ModWsgiServer(ApacheServer):
    """``mod_wsgi-express start-server``: Apache configured from the command line."""

    def __init__(
        self,
        script: Path,
        root: Path,
        *,
        processes: int = 3,
        threads: int = 8,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(root, processes=processes, env=env)
        self.script = script
        self.threads = threads
        self.extra_args = list(extra_args)

    def command(self) -> list[str]:
        command = [
            str(mod_wsgi_express()),
            "start-server",
            str(self.script),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--processes",
            str(self.processes),
            "--threads",
            str(self.threads),
            "--process-group",
            PROCESS_GROUP,
            "--server-root",
            str(self.server_root),
            # Debian images often lack en_US.UTF-8, which mod_wsgi-express asks
            # for by default and then warns about in every daemon.
            "--locale",
            "C.UTF-8",
            "--url-alias",
            "/static",
            str(PROJECT_ROOT / "static"),
            # Start every Apache worker up front and never stop idle ones: a
            # stopped worker closes its keep-alive connections, and a client
            # sending on one at that moment sees a connection error.
            "--initial-workers",
            "1",
            "--maximum-spare-workers",
            "1",
            *self.extra_args,
        ]
        if is_root():
            command += ["--user", SERVE_USER, "--group", SERVE_USER]
        return command


def apache_modules_dir() -> Path:
    """Return the folder of Apache's modules (Debian: /usr/lib/apache2/modules)."""
    apxs = shutil.which("apxs") or shutil.which("apxs2")
    if apxs:
        found = subprocess.run(
            [apxs, "-q", "LIBEXECDIR"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if found:
            return Path(found)
    return Path("/usr/lib/apache2/modules")


class ConfiguredServer(ApacheServer):
    """Plain ``apache2`` running a virtual host file, as a Debian server would.

    The top-level configuration stands in for Debian's apache2.conf: it loads the
    modules the virtual host needs and includes it.
    """

    MODULES = ("mpm_event", "authz_core", "alias", "mime", "headers", "dir")

    def __init__(
        self,
        vhost: str,
        root: Path,
        *,
        processes: int,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(root, processes=processes, env=env)
        self.vhost = vhost

    def config(self) -> str:
        """Return the top-level configuration; the vhost's port is ours."""
        modules = apache_modules_dir()
        loads = "\n".join(
            f"LoadModule {name}_module {modules}/mod_{name}.so" for name in self.MODULES
        )
        wsgi = subprocess.run(
            [str(mod_wsgi_express()), "module-config"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        user = serving_user()
        return f"""\
ServerRoot {self.server_root}
ServerName 127.0.0.1
PidFile {self.server_root}/httpd.pid
ErrorLog {self.error_log_path}
LogLevel warn
Listen 127.0.0.1:{self.port}
{loads}
{wsgi}
User {user}
Group {user}
TypesConfig /etc/mime.types
WSGISocketPrefix {self.server_root}/wsgi
LogFormat "%h %l %u %t \\"%r\\" %>s %O" combined
Define APACHE_LOG_DIR {self.server_root}
Include {self.server_root}/site.conf
"""

    def command(self) -> list[str]:
        self.server_root.mkdir(parents=True, exist_ok=True)
        (self.server_root / "site.conf").write_text(self.vhost)
        (self.server_root / "httpd.conf").write_text(self.config())
        apache = shutil.which("apache2") or "/usr/sbin/apache2"
        return [apache, "-f", str(self.server_root / "httpd.conf"), "-DFOREGROUND"]

    def config_test(self) -> subprocess.CompletedProcess:
        """Run ``apache2 -t`` on the configuration: Apache's own syntax check."""
        command = self.command()[:-1] + ["-t"]
        return subprocess.run(command, capture_output=True, text=True, check=False)
