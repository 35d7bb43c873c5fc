"""The ``mayfly`` command: serve, send, read, reply, ask, answer, status, replies, burn, purge,
backup."""

from __future__ import annotations

import errno
import os
import re
import sys
from pathlib import Path

import click

from . import crypto
from .client import AlreadyAnswered, Client, ClientError, Link
from .errors import MayflyError

DEFAULT_SERVER = "http://127.0.0.1:8000"
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> int:
    """'10m', '1h', '1d', '7d' (or plain seconds) as seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration such as 10m, 1h, 1d or 7d")
    return int(match[1]) * UNITS[match[2] or "s"]


def _client(server: str) -> Client:
    """A client for the server a link names; its answers are capped by the create limit."""
    limit = os.environ.get("MAYFLY_MAX_CIPHERTEXT_BYTES", "")
    if not limit:
        return Client(server)
    if not limit.isdigit() or int(limit) < 1024:
        raise click.ClickException(
            f"MAYFLY_MAX_CIPHERTEXT_BYTES must be a number of bytes, at least 1024 (got {limit!r})")
    return Client(server, max_ciphertext_bytes=int(limit))


def _passphrase_from_env() -> str | None:
    return os.environ.get("MAYFLY_PASSPHRASE") or None


class OneLineErrors(click.Group):
    """A group whose usage errors fit on one line, like every other error."""

    def main(self, *args, **kwargs):
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # no command at all: the full help is the right answer
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
            click.echo(f"Error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mayfly")
def main():
    """mayfly: messages that burn after reading (阅后即焚).

    Encryption happens here, on your machine: the server never sees the
    message, the key (the part of the link after '#') or the passphrase.
    """


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--socket", "socket_path", metavar="PATH",
              help="Listen on this unix socket (for nginx) instead of HTTP.")
@click.option("--processes", default=5, show_default=True, type=click.IntRange(1, 64),
              help="uWSGI worker processes.")
@click.option("--verbose", is_flag=True, help="Show uWSGI's own start-up screen.")
def serve(host: str, port: int, socket_path: str | None, processes: int, verbose: bool):
    """Run mayfly under uWSGI (storage from MAYFLY_STORAGE_URL, SQLite by default).

    Example: mayfly serve --port 8000
    """
    from .serve import Listener
    from .serve import serve as run

    listener = Listener(socket=socket_path) if socket_path else Listener(host, port)
    try:
        run(listener, processes, verbose, say=lambda line: click.echo(line, err=True))
    except MayflyError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--expires", help="Lifetime: 10m, 1h, 1d, 7d.  [default: the server's]")
@click.option("--views", default=1, show_default=True, type=click.IntRange(1, 100),
              help="How many times it can be read.")
@click.option("--passphrase", "ask_passphrase", is_flag=True,
              help="Prompt for a passphrase (or set MAYFLY_PASSPHRASE).")
@click.option("--receipt", is_flag=True, help="Also print the receipt link (keep it private).")
@click.option("--no-replies", "no_replies", is_flag=True,
              help="Let nobody reply (replies reach you through the receipt link).")
@click.option("--notify", metavar="ADDRESS",
              help="Email ADDRESS when it is read, burned or expires unread (if the server"
                   " sends mail; in the language of LANG).")
@click.option("--server", envvar="MAYFLY_SERVER", default=DEFAULT_SERVER, show_default=True)
def send(files, expires, views, ask_passphrase, receipt, no_replies, notify, server):
    """Encrypt standard input (and FILES as attachments) and print the link.

    The reader may send one reply per view, readable only with the receipt
    link (mayfly replies); --no-replies refuses them. --notify ADDRESS asks the
    server for notices by email; it keeps the address only until the last one.

    Example: echo 'the wifi password is hunter2' | mayfly send --expires 1h
    """
    # Unless asked, the server's own default lifetime applies: no second default here.
    expires_in = None if expires is None else parse_duration(expires)
    passphrase = _passphrase_from_env()
    if ask_passphrase and not passphrase:
        passphrase = click.prompt("Passphrase", hide_input=True, confirmation_prompt=True,
                                  err=True)
    message = _message_from_input(files, "message")
    try:
        sent = _client(server).send(message, expires_in=expires_in,
                                    max_views=views, passphrase=passphrase,
                                    replies=not no_replies, notify=notify,
                                    language=locale_tag())
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(sent.link)
    if receipt:
        click.echo(sent.receipt_link)
    elif not no_replies:
        # On standard error: a script that keeps the link from stdout still gets one line.
        click.echo(f"replies reach you at the receipt link (keep it private): "
                   f"{sent.receipt_link}", err=True)


def locale_tag() -> str | None:
    """The terminal's language as a tag (LANG=zh_CN.UTF-8 gives zh-CN), for notices."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "").split(".")[0].split("@")[0]
        if value and value not in {"C", "POSIX"}:
            return value.replace("_", "-")
    return None


def _message_from_input(files, what: str) -> crypto.Message:
    """Standard input as the text, FILES as attachments; refuse an empty one."""
    if sys.stdin.isatty():
        click.echo(f"Type the {what}, then Ctrl+D:", err=True)
    text = sys.stdin.read()
    attachments = tuple(
        crypto.Attachment(path.name, _media_type(path), path.read_bytes()) for path in files
    )
    if not text.strip() and not attachments:
        raise click.ClickException(f"nothing to send: the {what} is empty")
    return crypto.Message(text, attachments)


def _media_type(path: Path) -> str:
    import mimetypes

    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


# Dropped from names written to disk: control characters (C0, DEL, C1) and the
# bidirectional overrides that make "txt.exe" look like "exe.txt".
_NAME_DROP = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Shown escaped on a terminal: control characters, and a CR not ending a line.
_SHOWN_ESCAPED = re.compile(r"\r(?!\n)|[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")
# JSON's \\ud800 escapes decode to lone surrogates, which UTF-8 cannot encode.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Most file systems allow 255 bytes in a name; keep room for " (999)".
NAME_BYTES = 255 - len(" (999)")
CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def well_formed(text: str) -> str:
    """The text with any lone surrogate (valid in JSON, not in UTF-8) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def escaped(text: str) -> str:
    """Text safe to show on a terminal: control characters as \\xNN, a lone CR as \\r."""
    return _SHOWN_ESCAPED.sub(lambda m: "\\r" if m[0] == "\r" else f"\\x{ord(m[0]):02x}", text)


def safe_name(name: str) -> str:
    """A file name that cannot climb out of the output directory or upset a terminal."""
    base = well_formed(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = _NAME_DROP.sub("", base).strip()
    base = "attachment" if base in {"", ".", ".."} else base.lstrip(".").strip() or "attachment"
    return _shortened(base, NAME_BYTES)


def _shortened(name: str, limit: int) -> str:
    """The name cut to ``limit`` bytes of UTF-8, keeping a short extension."""
    if len(name.encode()) <= limit:
        return name
    suffix = Path(name).suffix
    if len(suffix.encode()) > 16:
        suffix = ""
    stem = name[: len(name) - len(suffix)].encode()[: limit - len(suffix.encode())]
    return stem.decode("utf-8", "ignore").rstrip() + suffix


def _candidates(name: str):
    """name, 'stem (1).ext' up to 999, then 'attachment (n)': names to try in turn."""
    stem, suffix = Path(name).stem, Path(name).suffix
    yield name
    yield from (f"{stem} ({n}){suffix}" for n in range(1, 1000))
    yield from (f"attachment ({n})" for n in range(1, 1000))


def save_attachment(directory: Path, attachment: crypto.Attachment) -> Path:
    """Write a new private file, never an existing one and never through a symlink."""
    tried_fallback = False
    for candidate in _candidates(safe_name(attachment.name)):
        if tried_fallback and not candidate.startswith("attachment ("):
            continue
        path = directory / candidate
        try:
            handle = os.open(path, CREATE_NEW, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno in {errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL} \
                    and not tried_fallback:
                tried_fallback = True  # the file system refuses the name: a plain one
                continue
            if exc.errno == errno.ELOOP:
                continue  # a symlink under this name (O_NOFOLLOW)
            raise
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(attachment.data)
        except OSError:
            path.unlink(missing_ok=True)
            raise
        return path
    raise OSError(errno.EEXIST, "no free name left")


def _check_output(directory: Path) -> None:
    """Refuse, before the view is spent, a folder that cannot take attachments."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise click.ClickException(f"cannot save attachments in {directory}: "
                                   f"{existing} is not a folder this user can write to")


def show_text(text: str, raw: bool) -> str | None:
    """Print the message: exactly (as UTF-8) when raw, else escaped for the terminal.

    Returns why the text could not be written (a closed pipe), or None.
    """
    text = well_formed(text)
    if not text.endswith("\n"):
        text += "\n"
    stdout = click.get_text_stream("stdout")
    if raw:
        data = text.encode("utf-8")
    else:
        data = escaped(text).encode(stdout.encoding or "utf-8", "replace")
    out = click.get_binary_stream("stdout")
    try:
        out.write(data)
        out.flush()
    except OSError as exc:
        # Nobody reads standard output any more: stop Python's own flush at exit
        # from failing too, and go on to save the attachments.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return exc.strerror or type(exc).__name__
    return None


@main.command()
@click.argument("link")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Where attachments are saved (never overwriting).")
@click.option("--raw", is_flag=True,
              help="Write the text exactly as sent even on a terminal. Without a terminal "
                   "(a pipe, a file) it always is; on one, control characters are shown "
                   "escaped (\\x1b) so that the sender cannot drive your terminal.")
def read(link, output, raw):
    """Reveal a message (or the answer to your request), print it and save its files. It burns.

    Example: mayfly read 'https://secrets.example.org/s/ID#KEY'
    """
    source = click.get_current_context().get_parameter_source("output")
    if source is not click.core.ParameterSource.DEFAULT:
        _check_output(output)
    try:
        parsed = Link.parse(link, kind="sa")
        if parsed.kind == "a":
            message, views_left = _client(parsed.base).read_answer(parsed), 0
        else:
            message, views_left = _client(parsed.base).read(parsed, _ask_passphrase)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    # From here on the view is spent: everything is shown or saved that can be.
    unwritten = show_text(message.text, raw or not click.get_text_stream("stdout").isatty())
    failed = _save_all(message.files, output)
    if views_left:
        click.echo(f"({views_left} view(s) left)", err=True)
    else:
        click.echo("(this message is now destroyed)", err=True)
    if unwritten:
        raise click.ClickException(f"the text could not be written: {unwritten}")
    if failed:
        raise click.ClickException(f"{failed} attachment(s) could not be saved")


def _save_all(files: tuple[crypto.Attachment, ...], output: Path) -> int:
    """Save each attachment, reporting each on stderr; how many could not be saved."""
    failed = 0
    for attachment in files:
        try:
            output.mkdir(parents=True, exist_ok=True)
            path = save_attachment(output, attachment)
        except OSError as exc:
            failed += 1
            reason = exc.strerror or type(exc).__name__
            click.echo(f"could not save {escaped(safe_name(attachment.name))}: {reason}",
                       err=True)
            continue
        click.echo(f"saved {escaped(well_formed(str(path)))} ({len(attachment.data)} bytes)",
                   err=True)
    return failed


def _show(message: crypto.Message, output: Path) -> int:
    """Print a reply's text as read does and save its attachments; how many failed."""
    unwritten = show_text(message.text, not click.get_text_stream("stdout").isatty())
    if unwritten:
        raise click.ClickException(f"the text could not be written: {unwritten}")
    return _save_all(message.files, output)


@main.command()
@click.argument("link")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def reply(link, files):
    """Reply to a message you read: standard input (and FILES), for its sender's eyes only.

    Example: echo 'got it, thanks' | mayfly reply 'https://secrets.example.org/s/ID#KEY'
    """
    message = _message_from_input(files, "reply")
    try:
        parsed = Link.parse(link)
        _client(parsed.base).reply(parsed, message)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("reply sent: only the sender can read it, once", err=True)


@main.command()
@click.argument("note")
@click.option("--expires", help="Lifetime: 10m, 1h, 1d, 7d.  [default: the server's]")
@click.option("--passphrase", "ask_passphrase", is_flag=True,
              help="Prompt for a passphrase the answerer must know (or set MAYFLY_PASSPHRASE).")
@click.option("--server", envvar="MAYFLY_SERVER", default=DEFAULT_SERVER, show_default=True)
def ask(note, expires, ask_passphrase, server):
    """Ask someone for a secret: print a request link to send and an answer link to keep.

    The note is encrypted too. Whoever opens the request link may answer once;
    only the answer link (mayfly read ANSWER_LINK) reads the answer, once.

    Example: mayfly ask 'the staging database password, please' --expires 1d
    """
    expires_in = None if expires is None else parse_duration(expires)
    passphrase = _passphrase_from_env()
    if ask_passphrase and not passphrase:
        passphrase = click.prompt("Passphrase", hide_input=True, confirmation_prompt=True,
                                  err=True)
    if not note.strip():
        raise click.ClickException("nothing to ask: the note is empty")
    try:
        asked = _client(server).ask(crypto.Message(note), expires_in=expires_in,
                                    passphrase=passphrase)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(asked.link)
    click.echo(asked.answer_link)
    click.echo("send the first link (the request); keep the second (the answer link) private:"
               " mayfly read ANSWER_LINK reads the answer once", err=True)


@main.command()
@click.argument("request_link")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def answer(request_link, files):
    """Answer a request for a secret: standard input (and FILES), for the requester only.

    Example: echo 'hunter2' | mayfly answer 'https://secrets.example.org/q/ID#KEY'
    """
    message = _message_from_input(files, "answer")
    try:
        parsed = Link.parse(request_link, kind="q")
        note = _client(parsed.base).answer(parsed, message, _ask_passphrase)
    except AlreadyAnswered as exc:
        raise click.ClickException(f"{exc}: your answer was not sent") from None
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"answered the request: {escaped(well_formed(note.text))}", err=True)
    click.echo("only the requester can read your answer, once", err=True)


@main.command()
@click.argument("receipt_link")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Where attachments are saved (never overwriting).")
def replies(receipt_link, output):
    """Read the replies to a message you sent, from its receipt link. They burn.

    Example: mayfly replies 'https://secrets.example.org/r/ID#TOKEN.KEY'
    """
    try:
        parsed = Link.parse(receipt_link, kind="r")
        read_now = _client(parsed.base).read_replies(parsed)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    if not read_now:
        raise click.ClickException("no unread reply")
    failed = 0
    for number, message in read_now:
        click.echo(f"--- reply {number} ---", err=True)
        failed += _show(message, output)
    click.echo(f"({len(read_now)} reply(ies) read, now destroyed)", err=True)
    if failed:
        raise click.ClickException(f"{failed} attachment(s) could not be saved")


def _ask_passphrase() -> str:
    from_env = _passphrase_from_env()
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise ClientError("this message needs a passphrase: set MAYFLY_PASSPHRASE")
    return click.prompt("Passphrase", hide_input=True, err=True)


# status --wait: what its exit code says beyond 0 (changed) and 1 (an error).
EXIT_TIMEOUT = 3
EXIT_FINAL = 4


@main.command()
@click.argument("receipt_link")
@click.option("--wait", is_flag=True,
              help="Wait until the receipt changes (read, burned, expired, a reply), then "
                   "print the new state.")
@click.option("--timeout", metavar="DURATION",
              help="With --wait: give up after this long (30s, 10m, 1h), exit code 3.")
def status(receipt_link, wait, timeout):
    """Show what became of a message you sent (or a request), from its receipt (answer) link.

    With --wait it returns only when something changes, and prints the new
    state; exit code 0. It exits 3 if nothing changed before --timeout
    (printing the state as it was), and 4 at once if nothing can change any
    more (the message is gone and no reply can come).

    Example: mayfly status --wait --timeout 1h 'https://secrets.example.org/r/ID#TOKEN'
    """
    if timeout is not None and not wait:
        raise click.UsageError("--timeout goes with --wait")
    if not wait:
        click.echo(_receipt_after(receipt_link))
        return
    seconds = None if timeout is None else parse_duration(timeout)
    try:
        parsed = Link.parse(receipt_link, kind="ra")
        receipt, why = _client(parsed.base).watch(parsed, timeout=seconds, seen=_waiting_from)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(describe_receipt(receipt))
    if why == "timeout":
        click.echo(f"nothing changed within {timeout}", err=True)
        sys.exit(EXIT_TIMEOUT)
    if why == "final":
        click.echo("nothing more can change", err=True)
        sys.exit(EXIT_FINAL)


def _waiting_from(receipt: dict) -> None:
    click.echo(f"now {describe_receipt(receipt)}; waiting for a change", err=True)


def _receipt_after(receipt_link: str, burn_first: bool = False) -> str:
    """Fetch (after burning, if asked) and describe the receipt a link names."""
    try:
        parsed = Link.parse(receipt_link, kind="ra")
        client = _client(parsed.base)
        if burn_first:
            client.burn(parsed)
        return describe_receipt(client.receipt(parsed))
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None


def describe_receipt(receipt: dict) -> str:
    """One line a person reads: the state and when it happened."""
    state = receipt["state"]
    if receipt.get("kind") == "request":
        return describe_request(receipt)
    views = f"{receipt['max_views'] - receipt['views_left']} of {receipt['max_views']} view(s) used"
    failed = receipt.get("failed_attempts")
    if type(failed) is int and 0 < failed < 1000:  # a wrong passphrase is news too (--wait)
        views += f", {failed} wrong passphrase(s)"
    lines = {
        "waiting": f"waiting: not read yet ({views}), expires {receipt['expires_at']}",
        "read": f"read at {receipt['last_read_at']} ({views}), now destroyed",
        "burned": f"burned by you at {receipt['ended_at']}",
        "failed": f"burned at {receipt['ended_at']} after too many wrong passphrases",
        "expired": f"expired at {receipt['expires_at']} ({views})",
    }
    line = lines.get(state, state)
    replies = receipt.get("replies") or []
    if replies:
        unread = sum(reply["read_at"] is None for reply in replies)
        noun = "reply" if len(replies) == 1 else "replies"
        line += f"; {len(replies)} {noun} ({unread} unread: mayfly replies RECEIPT_LINK)"
    return line


def describe_request(receipt: dict) -> str:
    """One line about a request: waiting, answered, read or ended."""
    answered = (receipt.get("replies") or [{}])[0].get("created_at")
    lines = {
        "waiting": f"waiting for an answer, expires {receipt['expires_at']}",
        "answered": f"answered at {answered}: mayfly read ANSWER_LINK (it burns),"
                    f" before {receipt['expires_at']}",
        "read": f"answered, and the answer read at {receipt['ended_at']}: now destroyed",
        "burned": f"burned by you at {receipt['ended_at']}",
        "failed": f"burned at {receipt['ended_at']} after too many wrong passphrases",
        "expired": f"expired at {receipt['expires_at']}"
                   + (" with its answer unread" if answered else ", unanswered"),
    }
    return lines.get(receipt["state"], receipt["state"])


@main.command()
@click.argument("receipt_link")
def burn(receipt_link):
    """Destroy a message you sent before it is read, from its receipt link.

    Example: mayfly burn 'https://secrets.example.org/r/ID#TOKEN'
    """
    click.echo(_receipt_after(receipt_link, burn_first=True))


@main.command()
def purge():
    """Delete expired messages and old receipts now, and wipe ended ones from the files.

    Example: MAYFLY_DATA_DIR=/var/lib/mayfly mayfly purge
    """
    from . import app_rules, create_app

    try:
        rules = app_rules(create_app())
        purged = rules.purge()
        click.echo(f"purged {purged.expired} expired message(s) and {purged.receipts}"
                   " old receipt(s)")
        # Then what ended since the last run leaves the files too (the WAL, the AOF).
        click.echo(rules.storage.scrub())
    except MayflyError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(file: Path):
    """Copy the SQLite database into FILE, consistently, even while mayfly serves.

    Restore: stop mayfly, copy FILE into an empty data directory as mayfly.db
    (owned by the service's user, mode 600), start mayfly.

    Example: sudo -u mayfly env MAYFLY_DATA_DIR=/var/lib/mayfly mayfly backup /var/backups/mayfly.db
    """
    from .backup import backup as copy_database

    try:
        source = copy_database(file)
    except MayflyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up {source} to {file}")
