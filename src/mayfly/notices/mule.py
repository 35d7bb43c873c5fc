"""The file uWSGI's notices mule runs (uwsgi.ini [notices]).

A file, not ``module:function``: with lazy-apps the master never loads the app,
and pyuwsgi's mule for a ``module:function`` crashed there (a segfault on
start), while a mule script runs as ``__main__`` in a Python of its own.
"""

if __name__ == "__main__":
    from mayfly.notices.worker import mule

    mule()
