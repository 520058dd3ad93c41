"""homepage: a self-hosted blog that is safe under mod_wsgi's threads and processes."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from .config import check_settings_file
from .db import PROJECT_ROOT

csrf = CSRFProtect()


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the blog application."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("HOMEPAGE_INSTANCE_PATH")
        or str(PROJECT_ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_object("homepage.config.Config")
    if test_config is None:
        # Executed as Python: root must not run what the serving user wrote.
        check_settings_file(Path(app.instance_path) / "config.py")
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)
    app.config.from_prefixed_env()
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(
            Path(app.instance_path) / "secret_key"
        )

    from . import admin, core, db, ops, reader, web
    from .core.zone import zone_problem
    from .web import security

    # Refused at once, with the reason, rather than on the first page with a date.
    if problem := zone_problem(app.config.get("SITE_TIMEZONE")):
        raise RuntimeError(problem)

    db.init_app(app)
    core.init_app()
    csrf.init_app(app)
    web.init_app(app)
    admin.init_app(app)
    reader.init_app(app)
    ops.init_app(app)
    # Last: its host check and proxy fix wrap the page cache's middleware.
    security.init_app(app)
    return app


def load_or_create_secret_key(path: Path) -> str:
    """Return the key stored at ``path``, creating a random one on first start."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    # The instance folder holds the settings and often the database: closed
    # to other local users.
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        # O_EXCL: when several mod_wsgi processes start at once, exactly one
        # writes the key and the others read it, so all sign cookies alike.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_when_written(path)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key


def _read_when_written(path: Path) -> str:
    # The winner may not have written yet; its write is a single small call.
    for _ in range(100):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} exists but is empty; delete it and restart")
