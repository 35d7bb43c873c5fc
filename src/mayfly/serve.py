"""``mayfly serve``: check what can be checked, say where, then become uWSGI.

The uWSGI configuration is the packaged ``uwsgi.ini``; this module adds only
the listener (an HTTP address or a unix socket for nginx) and the number of
workers. It checks the settings, the data directory and the address first, so
that a mistake is one line instead of a uWSGI screen, and then replaces itself
with uWSGI (``exec``): systemd's main process is uWSGI's master, which tells
systemd when it is ready.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
import socket
import sys
from dataclasses import dataclass
from importlib.resources import files
from urllib.parse import urlsplit

from . import config
from .config import Settings
from .errors import MayflyError


class ServeError(MayflyError):
    """mayfly cannot start."""


@dataclass(frozen=True)
class Listener:
    """Where uWSGI listens: host and port (its HTTP router), or a unix socket path."""

    host: str = "127.0.0.1"
    port: int = 8000
    socket: str | None = None

    def describe(self) -> str:
        if self.socket:
            return f"unix socket {self.socket} (for nginx)"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def uwsgi_args(self, ini: str) -> list[str]:
        if self.socket:
            return ["--ini", f"{ini}:socket", "--socket", self.socket]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return ["--ini", f"{ini}:http", "--http", f"{host}:{self.port}"]


def uwsgi_ini() -> str:
    """The packaged uWSGI configuration's path."""
    return str(files("mayfly").joinpath("uwsgi.ini"))


def uwsgi_binary() -> str:
    """The uwsgi (pyuwsgi) of this virtualenv, else one on PATH."""
    found = shutil.which("uwsgi", path=os.path.dirname(sys.executable)) or shutil.which("uwsgi")
    if found is None:
        raise ServeError("uwsgi is not installed (pip install pyuwsgi)")
    return found


def uwsgi_command(listener: Listener, processes: int, log_fd: int | None = None,
                  notices: bool = False) -> list[str]:
    """The whole uWSGI command line: the packaged ini, the listener, the workers.

    With ``log_fd`` (quiet, the default of `mayfly serve`), the [quiet] section
    drains uWSGI's screen and uWSGI logs to that descriptor; without, it shows all.
    With ``notices``, also the [notices] section: the mule that delivers them.
    """
    ini = uwsgi_ini()
    quiet = [] if log_fd is None else ["--ini", f"{ini}:quiet", "--logger", f"fd:{log_fd}"]
    mule = ["--ini", f"{ini}:notices"] if notices else []
    # A reload (SIGHUP) re-executes uWSGI's binary, which pyuwsgi's is Python's: the
    # interpreter as resolved by the kernel would be the base one, outside this
    # virtualenv, where pyuwsgi is not installed, and the reload would end the server.
    return [uwsgi_binary(), "--ini", ini, *listener.uwsgi_args(ini), *quiet, *mule,
            "--processes", str(processes), "--binary-path", sys.executable]


def redacted(url: str) -> str:
    """A storage URL without its password, fit to print."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    credentials, hosts = parts.netloc.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    netloc = f"{user}:***@{hosts}" if ":" in credentials else f"***@{hosts}"
    return parts._replace(netloc=netloc).geturl()


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepare_data_dir(database: str) -> None:
    """Create the database's directory private (0700); refuse one we cannot write."""
    directory = os.path.dirname(os.path.abspath(database))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ServeError(f"cannot create the data directory {directory}: {exc.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ServeError(f"the data directory {directory} is not writable by this user"
                         " (set MAYFLY_DATA_DIR to one that is)")
    if os.path.exists(database) and not os.access(database, os.R_OK | os.W_OK):
        raise ServeError(f"the database {database} is not writable by this user")


def check_address(listener: Listener) -> None:
    """Refuse an address that is taken or not ours to listen on, before uWSGI tries."""
    if listener.socket:
        check_unix_socket(listener.socket)
        return
    try:
        infos = socket.getaddrinfo(listener.host, listener.port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ServeError(f"cannot listen on {listener.host}: no such address") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uWSGI binds: SO_REUSEADDR, so a port in TIME_WAIT is not "taken".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(f"port {listener.port} on {listener.host} is already in use"
                                 " (is mayfly already running? choose another with --port)"
                                 ) from None
            raise ServeError(f"cannot listen on {listener.describe()}: {exc.strerror}") from None


def check_unix_socket(path: str) -> None:
    """The socket's directory must be writable, and no live server may hold the path."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        raise ServeError(f"cannot create the socket {path}: {directory} is not a writable"
                         " directory")
    if os.path.exists(path):
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(path)
            except OSError:
                return  # a stale socket file: uWSGI replaces it
        raise ServeError(f"the socket {path} is already in use (is mayfly already running?)")


def preflight(listener: Listener) -> list[str]:
    """Check settings, storage and address; return the lines that tell a person where."""
    from . import create_app, data_directory
    from .storage import sqlite_file

    settings = config.load()
    # Everything mayfly and uWSGI create from here on is private: the data
    # directory 0700, the database 0600; chmod-socket opens the socket to the group.
    os.umask(0o077)
    database = sqlite_file(settings.storage_url, data_directory(settings))
    if database is not None:
        prepare_data_dir(database)
    check_address(listener)
    create_app()  # opens (and upgrades) the storage: fails here, in one line
    storage = (f"SQLite database {database}" if database is not None
               else f"storage {redacted(settings.storage_url)}")
    lines = [f"mayfly is serving {listener.describe()}", f"data: {storage}"]
    if settings.notices:
        ways = [way for way, on in (("email", settings.smtp_url), ("webhook", settings.webhook_url))
                if on]
        lines.append(f"notices: {' and '.join(ways)}, delivered by a uWSGI mule")
    return lines


def warnings(listener: Listener, settings: Settings) -> list[str]:
    """What a person should know about listening beyond this machine."""
    if listener.socket or is_loopback(listener.host):
        return []
    found = [f"{listener.host} is not a loopback address. uWSGI's HTTP router does not"
             " buffer request bodies, so slow clients can hold every worker: put nginx in front"
             " for the internet (docs/deployment.md)."]
    if not settings.public_url:
        # A client picks the Host header, and so the host of every link made for it.
        found.append("MAYFLY_PUBLIC_URL is not set, so links are built from each request's"
                     " Host header: set it to the address your users see.")
    return found


def log_descriptor() -> int:
    """Standard error, kept on a new descriptor for uWSGI's logger; fd 2 goes to /dev/null.

    uWSGI prints a line for every --ini it reads ("getting INI configuration")
    to fd 2 before its logger exists, where no log-drain can reach. From then on
    everything uWSGI and the app log, errors and tracebacks included, goes through
    the logger (the [quiet] section's drains, then this descriptor).
    """
    kept = os.dup(2)
    os.set_inheritable(kept, True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    return kept


def serve(listener: Listener, processes: int, verbose: bool, say) -> None:
    """Check, print a few lines with ``say``, and exec uWSGI (never returns)."""
    lines = preflight(listener)
    uwsgi_binary()  # refuse a missing uwsgi before anything is printed
    for line in lines:
        say(line)
    for warning in warnings(listener, config.load()):
        say(f"warning: {warning}")
    say("Stop with Ctrl+C (or SIGTERM)."
        + ("" if verbose else " uWSGI's own start-up screen: mayfly serve --verbose."))
    sys.stdout.flush()
    sys.stderr.flush()
    command = uwsgi_command(listener, processes, None if verbose else log_descriptor(),
                            notices=config.load().notices)
    os.execv(command[0], command)
