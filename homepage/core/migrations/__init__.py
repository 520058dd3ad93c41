"""Alembic's environment and the schema's revisions, shipped inside the package.

Nothing imports this package: Alembic reads ``env.py`` and ``versions/`` by
path, configured from code by :mod:`homepage.core.schema` (no alembic.ini).
"""
