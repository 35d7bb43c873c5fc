"""mayfly: self-hosted, zero-knowledge burn-after-reading messages."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from .rules import Rules

__version__ = "0.1.0"
# Where an application keeps its Rules (and so its settings and storage).
EXTENSION = "mayfly"


@cache
def asset_version() -> str:
    """A digest of every static file: assets change URL whenever they change.

    Pages link /static/<digest>/...; ES modules import their neighbours by
    relative URLs, so a whole release's scripts move together and a long cache
    can never mix an old module with a new one.
    """
    digest = hashlib.sha256()
    stack = [(files("mayfly").joinpath("static"), "")]
    while stack:
        folder, prefix = stack.pop()
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            path = f"{prefix}/{entry.name}"
            if entry.is_dir():
                stack.append((entry, path))
            else:
                digest.update(path.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()[:12]


def app_rules(app: Flask | None = None) -> Rules:
    """The Rules of ``app``, else of the application handling the current request."""
    return (current_app if app is None else app).extensions[EXTENSION]


def data_directory(settings) -> str:
    """Where the SQLite file lives by default: MAYFLY_DATA_DIR, else Flask's instance folder."""
    return settings.data_dir or Flask(__name__, instance_relative_config=True).instance_path


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """Build the application: settings, storage, rules, blueprints, headers, limits."""
    from . import api, bodies, lean, lean_reads, lean_writes, limits, ops, problems, security, web
    from . import config as settings_module
    from .notices import mule
    from .rules import Rules
    from .storage import open_storage

    app = Flask(__name__, instance_relative_config=True,
                static_url_path=f"/static/{asset_version()}")
    settings = settings_module.load(config)
    storage = open_storage(settings.storage_url, data_directory(settings),
                           settings.sqlite_synchronous)
    # With an operator's webhook, every change queues an event for it (issue #12).
    storage.webhook_events = bool(settings.webhook_url)
    # Under uWSGI with the notices mule, the mule purges and the workers' writes do not.
    app.extensions[EXTENSION] = Rules(storage, settings,
                                      writes_purge=not mule.purges_for_this_worker())
    app.config["MAX_CONTENT_LENGTH"] = api.max_body_bytes(settings)
    bodies.init_app(app, app.config["MAX_CONTENT_LENGTH"])
    app.json.sort_keys = False

    # The lean reads and writes go inside the security headers, so that their answers
    # carry them.
    lean.init_app(app, lean_reads.ROUTES + lean_writes.ROUTES)
    security.init_app(app, settings)
    problems.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(ops.bp)
    web.init_app(app)
    limits.init_app(app, settings)
    return app
