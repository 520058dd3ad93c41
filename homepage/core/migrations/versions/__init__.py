"""The schema's revisions, one file each, oldest first by their ``down_revision``."""
