"""mayfly: self-hosted, zero-knowledge burn-after-reading messages."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

__version__ = "0.1.0"


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """Build the application: settings, storage, rules, blueprints, headers, limits."""
    from . import api, limits, ops, problems, security, web
    from . import config as settings_module
    from .rules import Rules
    from .storage import open_storage

    app = Flask(__name__, instance_relative_config=True)
    settings = settings_module.load(config)
    data_dir = settings.data_dir or app.instance_path
    storage = open_storage(settings.storage_url, data_dir, settings.sqlite_synchronous)
    app.extensions["mayfly"] = Rules(storage, settings)
    app.config["MAX_CONTENT_LENGTH"] = api.max_body_bytes(settings)
    app.json.sort_keys = False

    security.init_app(app, settings)
    problems.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(ops.bp)
    web.init_app(app)
    limits.init_app(app, settings)
    return app
