"""The WSGI entry point for Apache mod_wsgi (and mod_wsgi-express)."""

from homepage import create_app

application = create_app()
