"""The WSGI entry point that uWSGI loads: ``wsgi-file = %dwsgi.py`` in uwsgi.ini."""

try:
    from mayfly import create_app

    app = create_app()
except KeyboardInterrupt:
    # Told to stop (SIGTERM), uWSGI interrupts every worker with SIGINT, also one
    # still loading the app (lazy-apps: after a reload or a respawn, or while the
    # storage is slow to answer). That is a stop, not an app that failed to load:
    # with need-app the latter ends uWSGI with status 22, which systemd and podman
    # report as a failure. Loaded as a file, this try is the first thing to run.
    raise SystemExit(0) from None
