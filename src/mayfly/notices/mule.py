"""The file uWSGI's notices mule runs (uwsgi.ini [notices]).

A file, not ``module:function``: with lazy-apps the master never loads the app,
and pyuwsgi's mule for a ``module:function`` crashed there (a segfault on
start), while a mule script runs as ``__main__`` in a Python of its own.
"""

import os


def purges_for_this_worker() -> bool:
    """Whether this process is a uWSGI worker whose master runs the notices mule.

    The mule purges now and then (worker.run_forever), so such a worker's writes
    need not: a purge of Redis's 1024 shards costs tens of milliseconds of CPU,
    which the write that happened to trigger it waited for.
    """
    try:
        import uwsgi
    except ImportError:  # not under uWSGI: the tests, bench.cpu, a Flask server
        return False
    mules = uwsgi.opt.get("mule", [])
    mules = mules if isinstance(mules, list) else [mules]
    ours = any(os.fsdecode(m).endswith("notices/mule.py") for m in mules)
    return ours and uwsgi.mule_id() == 0


if __name__ == "__main__":
    from mayfly.notices.worker import mule

    mule()
