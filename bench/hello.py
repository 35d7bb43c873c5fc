"""The floor our framework choice sets: the smallest Flask app, under the same uWSGI config."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    """Answer a constant: no storage, no JSON, nothing but Flask and uWSGI."""
    return "hello\n"
