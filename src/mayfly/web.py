"""The pages a person sees: compose, notification (and message), receipt, ashes, oops;
and for requests: ask, the request (answered there) and the answer link.

Every page is a shell: the browser's JavaScript encrypts, decrypts and talks to
the JSON API, so the server never sees a key. A GET here never changes a
secret; the only state a GET may set is the reader's language cookie.
"""

from __future__ import annotations

from typing import NamedTuple

from babel import Locale
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    render_template,
    request,
    url_for,
)
from flask_babel import Babel, format_timedelta, get_locale, get_translations
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header, parse_cookie
from werkzeug.wrappers import Response

from . import app_rules
from .config import Settings
from .errors import SecretGone
from .languages import LANGUAGES, Language, by_locale, negotiate
from .redirects import local_redirect

bp = Blueprint("web", __name__)

LANG_COOKIE = "mayfly_lang"
LANG_COOKIE_AGE = 365 * 86_400
# The lifetimes the compose page offers, kept to those the operator allows.
LIFETIMES = [(300, _l("5 minutes")), (3600, _l("1 hour")), (86_400, _l("1 day")),
             (7 * 86_400, _l("7 days"))]



class _n(NamedTuple):  # noqa: N801 -- named like _l, as pybabel's keyword (-k _n:1,2)
    """A string with a count (%(n)s) that takes each language's plural forms."""

    singular: str
    plural: str


# Strings the JavaScript shows, translated from the same catalogues as the
# templates and handed to the page as non-executable JSON.
JS_STRINGS = {
    "empty": _l("Write a message or attach a file first."),
    "too_large": _l("Too large: encrypted, this comes to %(used)s, over the %(limit)s limit."),
    "encrypting": _l("Encrypting…"),
    "create": _l("Create a secret link"),
    "copied": _l("Copied"),
    "copy": _l("Copy"),
    "copy_failed": _l("Could not copy: select the text and copy it by hand."),
    "show": _l("Show"),
    "hide": _l("Hide"),
    "remove": _l("Remove"),
    "size_of": _l("Encrypted size: %(used)s of the %(limit)s limit"),
    "expires": _l("Expires %(when)s"),
    "views_allowed": _n("Can be read %(n)s time.", "Can be read %(n)s times."),
    "views_left": _n("%(n)s more view left before it burns.",
                     "%(n)s more views left before it burns."),
    "last_view": _l("This was the last view: the message is now destroyed."),
    "wrong_passphrase": _n("Wrong passphrase, %(n)s attempt left.",
                           "Wrong passphrase, %(n)s attempts left."),
    "need_passphrase": _l("Enter the passphrase."),
    "decrypting": _l("Decrypting…"),
    "read": _l("Read the message"),
    "download": _l("Download"),
    "state_waiting": _l("Waiting: not read yet."),
    # Only while views remain, so max is at least 2.
    "state_waiting_some": _l("Waiting: read %(used)s of %(max)s times, last at %(when)s."),
    "state_read": _l("Read at %(when)s. The message is destroyed."),
    "state_burned": _l("You burned it at %(when)s."),
    "state_failed": _l("Burned at %(when)s after too many wrong passphrases."),
    "state_expired": _l("Expired at %(when)s without being read."),
    "burn_confirm": _l("Burn it now? Nobody will be able to read it."),
    "watch_on": _l("This page updates by itself while it is open."),
    "watch_final": _l("Nothing more can change: this page has stopped checking."),
    "watch_retry": _l("Could not check for changes just now; trying again shortly."),
    "oops_unreachable": _l("The server cannot be reached. Check your connection and try again."),
    "oops_damaged": _l("The link is incomplete or damaged. Ask the sender to copy it again, "
                       "in full."),
    "oops_server": _l("Something went wrong on the server. Nothing was changed; try again "
                      "shortly."),
    "oops_refused": _l("The server refused the request: %(detail)s"),
    "oops_unavailable": _l("The storage is unavailable; nothing was changed. Try again shortly."),
    "rate_limited": _n("Too many tries: wait %(n)s second, then try again.",
                       "Too many tries: wait %(n)s seconds, then try again."),
    "oops_receipt": _l("This receipt link is incomplete or not valid."),
    "leave_draft": _l("Switching the language reloads the page: your draft would be lost."),
    "leave_link": _l("Switching the language reloads the page: the secret link shown here "
                     "would be lost. Copy it first."),
    "leave_message": _l("Switching the language reloads the page: this message would be gone "
                        "for good."),
    "reply_empty": _l("Write a reply or attach a file first."),
    "reply_send": _l("Send the reply"),
    "reply_no_more": _l("You have already replied: one reply per view of the message."),
    "replies_none": _l("No reply yet."),
    "replies_count": _n("%(n)s reply", "%(n)s replies"),
    "reply_title": _l("Reply %(number)s, received %(when)s"),
    "reply_open": _l("Read the reply"),
    "reply_burns": _l("It was destroyed on the server as you opened it: copy what you need "
                      "before you leave."),
    "reply_was_read": _l("Read at %(when)s: destroyed."),
    "reply_no_key": _l("This receipt link has no reply key, so the replies cannot be opened. "
                       "Use the whole receipt link."),
    "ask_empty": _l("Write what you need first."),
    "ask_create": _l("Create a request link"),
    "open_request": _l("Open the request"),
    "answer_empty": _l("Write an answer or attach a file first."),
    "answer_send": _l("Send the answer"),
    "already_answered": _l("Someone has already answered this request: your answer was not "
                           "sent. What you wrote is still here."),
    "answer_open": _l("Read the answer"),
    "request_gone": _l("This request is no longer open (it expired or was withdrawn): your "
                       "answer was not sent."),
    "request_waiting": _l("Waiting for an answer."),
    "request_answered": _l("Answered at %(when)s. The answer burns as you read it."),
    "request_read": _l("The answer was read at %(when)s. It is destroyed."),
    "request_expired": _l("Expired at %(when)s without an answer."),
    "request_expired_unread": _l("Expired at %(when)s: the answer was not read in time."),
    "oops_answer_link": _l("This answer link is incomplete or not valid."),
}


def select_locale() -> Locale:
    """Flask-Babel's selector: the reader's language, as a Locale.

    A Locale, not its name: Flask-Babel would parse a name again on every request.
    """
    return reader_language(request.environ).locale


def reader_language(environ: dict) -> Language:
    """The reader's choice (a cookie), else the browser's Accept-Language, else English.

    A function of the WSGI environ alone, so that the lean path (lean_reads.py),
    which has no request context, picks exactly the language Flask's pages do.
    """
    cookie = environ.get("HTTP_COOKIE")
    chosen = None
    if cookie:  # parsed only when sent: most readers have no cookie
        cookies = parse_cookie(cookie)
        # Not cookies.get(): a missing key raises and catches a BadRequestKeyError inside.
        chosen = LANGUAGES.get(cookies[LANG_COOKIE]) if LANG_COOKIE in cookies else None
    return chosen or negotiated(environ.get("HTTP_ACCEPT_LANGUAGE", ""))


# Accept-Language values already negotiated. Browsers send a few values over and
# over, and parsing one cost a third of a cached page's CPU. A client chooses the
# header, so the table is emptied when full rather than allowed to grow.
_NEGOTIATED: dict[str, Language] = {}
NEGOTIATED_MAX = 512


def negotiated(accept_language: str) -> Language:
    """Our language for an Accept-Language header's value (English if none fits)."""
    language = _NEGOTIATED.get(accept_language)
    if language is None:
        accept = parse_accept_header(accept_language, LanguageAccept)
        language = negotiate(tag for tag, quality in accept if quality > 0) or LANGUAGES["en"]
        if len(_NEGOTIATED) >= NEGOTIATED_MAX:
            _NEGOTIATED.clear()
        _NEGOTIATED[accept_language] = language
    return language


def current_language() -> Language:
    """The page's language, as Flask-Babel selected it."""
    return by_locale(get_locale())


def js_strings() -> dict[str, str | dict[str, str]]:
    """JS_STRINGS in the page's language, translated once per language and process.

    A plural string becomes its form for each CLDR category the language has
    ({"one": ..., "few": ..., "other": ...}): the browser picks with Intl.PluralRules.
    """
    translated = current_app.extensions.setdefault("mayfly.js_strings", {})
    language = current_language()
    if language.code not in translated:
        catalogue = get_translations()
        translated[language.code] = {
            key: ({category: catalogue.ngettext(text.singular, text.plural, sample)
                   for category, sample in language.plural_samples.items()}
                  if isinstance(text, _n) else str(text))
            for key, text in JS_STRINGS.items()}
    return translated[language.code]


def _page(template: str, status: int = 200, **context) -> Response:
    body = render_template(template, js_strings=js_strings(), **context)
    return Response(body, status=status, mimetype="text/html")


@bp.get("/")
def compose():
    """Write a message; the browser encrypts it and shows the link to share."""
    settings = app_rules().settings
    return _page("compose.html", lifetimes=lifetime_choices(settings),
                 default_lifetime=settings.default_lifetime, max_views=settings.max_views,
                 max_bytes=settings.max_ciphertext_bytes,
                 email_notices=settings.email_notices)


def lifetime_choices(settings: Settings) -> list[tuple[int, str]]:
    """The lifetimes the operator allows, always with the server's default among them."""
    choices = [(seconds, label) for seconds, label in LIFETIMES
               if settings.min_lifetime <= seconds <= settings.max_lifetime]
    default = settings.default_lifetime
    if all(seconds != default for seconds, _label in choices):
        choices = sorted([*choices, (default, exact_duration(default))], key=lambda c: c[0])
    return choices


def exact_duration(seconds: int) -> str:
    """'2 hours' or '90 minutes' in the page's language, from CLDR (no catalogue entry)."""
    size = next(size for size in (86_400, 3600, 60, 1) if seconds % size == 0)
    # The threshold makes Babel pick the largest unit that counts it exactly, unrounded.
    return format_timedelta(seconds, threshold=seconds / size)


@bp.get("/s/<secret_id>")
def notification(secret_id: str):
    """'You have a new message': looks the secret up, never spends a view."""
    live = app_rules().metadata(secret_id)  # SecretGone becomes the Ashes page
    # metadata() found it, so the id has an id's shape: nothing in it needs escaping.
    parts = notification_parts(live.kdf is not None)
    return Response(secret_id.encode().join(parts), mimetype="text/html")


# Where notification_parts keeps the pages; lean_reads.py serves from it too.
NOTIFICATION_CACHE = "mayfly.notification"
# Rendered where the id goes; letters and underscores only, so that neither HTML
# nor URL escaping changes it.
_ID_MARK = "MAYFLY_SECRET_ID_MARK"


def notification_parts(passphrase: bool) -> list[bytes]:
    """The notification page cut where the secret's id goes, rendered once per language.

    Every reader loads this page, and it is the same bytes for every secret but
    for the id and whether a passphrase is asked: rendering the template each
    time cost more than the rest of the request. The asset digest and the
    settings cannot change within a process, so they need no place in the key.
    """
    cache = current_app.extensions.setdefault(NOTIFICATION_CACHE, {})
    key = (current_language().code, passphrase)
    if key not in cache:
        page = render_template("notification.html", js_strings=js_strings(),
                               secret_id=_ID_MARK, here=f"/s/{_ID_MARK}",
                               passphrase=passphrase,
                               max_bytes=app_rules().settings.max_ciphertext_bytes)
        cache[key] = page.encode().split(_ID_MARK.encode())
    return cache[key]


@bp.get("/r/<secret_id>")
def receipt(secret_id: str):
    """The sender's receipt; the manage token stays in the fragment, read by the browser."""
    return _page("receipt.html", secret_id=secret_id)


@bp.get("/ask")
def ask():
    """Ask someone for a secret; the browser makes the key pair and shows both links."""
    settings = app_rules().settings
    return _page("ask.html", lifetimes=lifetime_choices(settings),
                 default_lifetime=settings.default_lifetime)


@bp.get("/q/<request_id>")
def request_page(request_id: str):
    """A request for a secret, answered here; looks it up, never changes it."""
    live = app_rules().metadata(request_id, kind="request")  # SecretGone: the Ashes page
    return _page("request.html", request_id=request_id, passphrase=live.kdf is not None,
                 max_bytes=app_rules().settings.max_ciphertext_bytes)


@bp.get("/a/<request_id>")
def answer_link(request_id: str):
    """The asker's page: the request's state, and its answer read once (token in the fragment)."""
    return _page("answer_link.html", request_id=request_id)


@bp.get("/lang/<code>")
def choose_language(code: str):
    """Remember a language and go back; the browser carries the link's #key across."""
    if code not in LANGUAGES:
        abort(404)
    response = local_redirect(request.args.get("next", "/"))
    response.set_cookie(LANG_COOKIE, code, max_age=LANG_COOKIE_AGE, samesite="Lax",
                        secure=request.is_secure, httponly=True)
    return response


def error_page(status: int, error: Exception) -> Response:
    """Ashes for anything gone (404), Oops for every other failure."""
    if status == 404 or isinstance(error, SecretGone):
        return _page("ashes.html", status=404)
    return _page("oops.html", status=status, status_code=status)


def init_app(app: Flask) -> None:
    """Pages, languages and friendly error pages."""
    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    # problems.py answers every error but knows no templates: the page comes from here.
    app.extensions["mayfly.error_page"] = error_page

    @app.context_processor
    def _language_context():
        return {"languages": LANGUAGES.values(), "current_language": current_language(),
                "static_url": lambda path: url_for("static", filename=path)}
