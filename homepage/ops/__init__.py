"""Operations: the site owner's command-line tools, built on ``core`` alone.

``flask --app homepage --help`` lists them; every command is registered here.
"""

from __future__ import annotations

from flask import Flask

from .backup import backup_command, restore_command
from .cli import (
    add_author_command,
    db_command,
    first_run_command,
    init_db_command,
    process_images_command,
    rerender_command,
    set_password_command,
    set_role_command,
)
from .copydb import copy_db_command
from .doctor import doctor_command
from .transfer import export_command, import_command
from .wordpress import import_wordpress_command

COMMANDS = (
    init_db_command,
    db_command,
    first_run_command,
    add_author_command,
    set_role_command,
    set_password_command,
    doctor_command,
    backup_command,
    restore_command,
    copy_db_command,
    export_command,
    import_command,
    import_wordpress_command,
    rerender_command,
    process_images_command,
)


def init_app(app: Flask) -> None:
    """Register every command with ``flask --app homepage``."""
    for command in COMMANDS:
        app.cli.add_command(command)
