"""The WSGI entry point that uWSGI imports: ``module = mayfly.wsgi:app``."""

from mayfly import create_app

app = create_app()
