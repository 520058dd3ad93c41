"""homepage: a self-hosted blog that is safe under mod_wsgi's threads and processes."""

from __future__ import annotations

import os
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

    from . import admin, core, db, ops, reader, web
    from .core.keys import signing_key
    from .core.zone import zone_problem
    from .web import security

    # Refused at once, with the reason, rather than on the first page with a date.
    if problem := zone_problem(app.config.get("SITE_TIMEZONE")):
        raise RuntimeError(problem)

    db.init_app(app)
    if not app.config.get("SECRET_KEY"):
        # Shared by every host through the database (core/keys.py).
        app.config["SECRET_KEY"] = signing_key(
            db.get_engine(app), Path(app.instance_path) / "secret_key"
        )
    core.init_app()
    csrf.init_app(app)
    web.init_app(app)
    admin.init_app(app)
    reader.init_app(app)
    ops.init_app(app)
    # Last: its host check and proxy fix wrap the page cache's middleware.
    security.init_app(app)
    return app
