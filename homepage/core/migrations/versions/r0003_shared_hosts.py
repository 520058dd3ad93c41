"""Several hosts on one database: image files and the signing key in the database.

``image_files`` holds the bytes of every stored image file (originals and
variants), so that a host serves an image another host stored, with no shared
folder; each host's upload folder becomes a cache of it. The files already in
the upload folder are copied in by ``init-db`` and ``flask process-images``
(core.images.store_files_in_database), which can read that folder; a revision
cannot. ``site_secrets`` holds the key that signs cookies when the settings
name none (core.keys), so that every host signs alike.

Revision ID: 0003
Revises: 0002
Created: 2026-11-26 12:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the image files' and the shared secrets' tables."""
    # A database adopted from before Alembic was made by the add-only
    # upgrade of some version; one that already made these tables keeps
    # them, rows and all (the tests make such databases by dropping
    # alembic_version from a new one).
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "image_files" not in existing:
        _create_image_files()
    if "site_secrets" not in existing:
        op.create_table(
            "site_secrets",
            sa.Column("name", sa.String(length=32), nullable=False),
            sa.Column("value", sa.String(length=128), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )


def _create_image_files() -> None:
    """Create the table of the stored image files' bytes."""
    op.create_table(
        "image_files",
        sa.Column("name", sa.String(length=96), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index(op.f("ix_image_files_image_id"), "image_files", ["image_id"])


def downgrade() -> None:
    """Drop both tables; the upload folders keep the files they cached."""
    op.drop_table("site_secrets")
    op.drop_index(op.f("ix_image_files_image_id"), table_name="image_files")
    op.drop_table("image_files")
