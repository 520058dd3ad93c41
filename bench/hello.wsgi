"""The ceiling: the smallest Flask app, served by the same mod_wsgi configuration."""

from flask import Flask

application = Flask(__name__)


@application.get("/")
def hello():
    """Say hello."""
    return "Hello, World!"
