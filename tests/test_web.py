"""The pages, through Flask's test client: headers, languages, Ashes and Oops, catalogues."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path

import flask
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from mayfly import app_rules, crypto, web
from mayfly.errors import StorageUnavailable
from mayfly.languages import LANGUAGES, Language

from .catalogues import TRANSLATIONS, folder, translations

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(str(files("mayfly")))
HTML = {"Accept": "text/html"}


def create(client, views: int = 1) -> str:
    """Store a sealed message through the API, as a browser would; return its id."""
    keys = crypto.derive_keys(crypto.new_link_key())
    body = {
        "ciphertext": crypto.b64encode(crypto.seal(keys.content_key,
                                                   crypto.pack(crypto.Message("hi")))),
        "link_proof_hash": crypto.b64encode(crypto.proof_hash(keys.link_proof)),
        "access_proof_hash": crypto.b64encode(crypto.proof_hash(keys.access_proof)),
        "max_views": views,
    }
    response = client.post("/api/v1/secrets", json=body)
    assert response.status_code == 201
    return response.get_json()["id"]


# --- pages and headers ---

@pytest.mark.parametrize("path", ["/", "/r/" + "A" * 24, "/ask", "/a/" + "A" * 24])
def test_pages_render_with_strict_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)[1]
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert "require-trusted-types-for 'script'" in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_load_nothing_from_elsewhere(client):
    page = client.get("/").get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources
    assert all(source.startswith(("/", "#")) and not source.startswith("//")
               for source in sources), sources
    assert "<script>" not in page  # no inline script: the CSP would refuse it anyway


def test_notification_page_changes_nothing(client, app):
    secret_id = create(client)
    for _ in range(3):
        response = client.get(f"/s/{secret_id}", headers={"User-Agent": "Slackbot-LinkExpanding"})
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
    assert app_rules(app).metadata(secret_id).views_left == 1


def test_request_page_changes_nothing_and_kinds_do_not_mix(client, app):
    from .test_api_requests import make_request

    made = make_request(client)
    for _ in range(3):
        page = client.get(f"/q/{made['id']}", headers={"User-Agent": "Slackbot-LinkExpanding"})
        assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
        assert 'data-testid="request"' in page.get_data(as_text=True)
        assert "<script>" not in page.get_data(as_text=True)
    receipt = app_rules(app).storage.receipt(made["id"], app_rules(app).clock())
    assert (receipt.state, receipt.replies_left, receipt.replies) == ("waiting", 1, ())
    assert client.get(f"/s/{made['id']}", headers=HTML).status_code == 404
    assert client.get(f"/q/{create(client)}", headers=HTML).status_code == 404


def test_notification_asks_for_no_passphrase_without_one(client):
    page = client.get(f"/s/{create(client)}").get_data(as_text=True)
    assert 'data-testid="notification"' in page
    assert 'data-testid="passphrase-input"' not in page


@pytest.mark.parametrize("language", LANGUAGES.values(), ids=LANGUAGES.keys())
def test_notification_page_is_the_fresh_render_for_each_secret(client, app, language):
    """Rendered once per language, the page still names each secret as a fresh render would."""
    client.set_cookie(web.LANG_COOKIE, language.code)
    first, second = create(client), create(client)
    pages = [client.get(f"/s/{secret_id}").get_data(as_text=True)
             for secret_id in (first, second, first)]
    assert pages[0] == pages[2] and first not in pages[1]
    cookie = {"Cookie": f"{web.LANG_COOKIE}={language.code}"}
    with app.test_request_context(f"/s/{second}", headers=cookie):
        fresh = flask.render_template(
            "notification.html", js_strings=web.js_strings(), secret_id=second,
            passphrase=False, max_bytes=app_rules(app).settings.max_ciphertext_bytes)
    assert pages[1] == fresh
    assert f'data-secret-id="{second}"' in fresh and f"next=/s/{second}\"" in fresh


@pytest.mark.parametrize("path", ["/s/" + "A" * 24, "/s/short", "/no/such/page",
                                  "/q/" + "A" * 24, "/q/short"])
def test_anything_gone_is_the_ashes_page(client, path):
    response = client.get(path, headers=HTML)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert 'data-testid="ashes"' in response.get_data(as_text=True)


def test_api_errors_stay_problem_json(client):
    response = client.get("/api/v1/secrets/" + "A" * 24, headers=HTML)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_storage_failure_is_the_oops_page(client, app, monkeypatch):
    def down(secret_id):
        raise StorageUnavailable()

    monkeypatch.setattr(app_rules(app), "metadata", down)
    response = client.get("/s/" + "A" * 24, headers=HTML)
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert 'data-testid="oops"' in body
    assert "Traceback" not in body


def lifetime_options(client) -> list[tuple[str, bool, str]]:
    """The compose page's lifetimes: (seconds, selected, label)."""
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    select = re.search(r'<select id="lifetime".*?</select>', page, re.S)[0]
    return [(value, bool(selected), label.strip()) for value, selected, label in
            re.findall(r'<option value="(\d+)"\s*(selected)?\s*>([^<]*)<', select)]


@pytest.mark.parametrize("settings_overrides, offered", [
    ({}, ["300", "3600", "86400", "604800"]),
    ({"min_lifetime": 3600, "max_lifetime": 86_400, "default_lifetime": 3600},
     ["3600", "86400"]),
])
def test_compose_offers_only_allowed_lifetimes(client, offered):
    assert [value for value, _selected, _label in lifetime_options(client)] == offered


@pytest.mark.parametrize("settings_overrides, chosen", [
    ({}, ("86400", True, "1 day")),
    ({"default_lifetime": 7200}, ("7200", True, "2 hours")),
    ({"default_lifetime": 5400}, ("5400", True, "90 minutes")),
    ({"min_lifetime": 600, "max_lifetime": 1800, "default_lifetime": 900},
     ("900", True, "15 minutes")),
])
def test_compose_preselects_exactly_the_servers_default_lifetime(client, chosen):
    options = lifetime_options(client)
    assert chosen in options
    assert [option for option in options if option[1]] == [chosen]


def test_compose_shows_the_size_limit_to_the_script(client, app):
    page = client.get("/").get_data(as_text=True)
    limit = app_rules(app).settings.max_ciphertext_bytes
    assert f'data-max-bytes="{limit}"' in page


# --- languages: every test below loops over LANGUAGES ---

def page_in(client, language: Language | None = None, **headers) -> str:
    """The compose page, in a chosen language (the cookie) or as Accept-Language picks."""
    if language is not None:
        client.set_cookie(web.LANG_COOKIE, language.code)
    return client.get("/", headers=headers).get_data(as_text=True)


def strings_in(page: str) -> dict:
    """The strings the page hands its script."""
    found = re.search(r'<script type="application/json" id="mayfly-strings">(.*?)</script>',
                      page, re.S)[1]
    assert "<" not in found  # escaped by tojson: it cannot close the script element
    return json.loads(found)


@pytest.mark.parametrize("language", LANGUAGES.values(), ids=LANGUAGES.keys())
def test_every_language_makes_a_whole_page(client, language):
    catalogue = translations(language)
    heading = catalogue.gettext("Write a message that burns after reading")
    if language.code != "en":
        assert heading != "Write a message that burns after reading"
    page = page_in(client, language)
    assert f'<html lang="{language.tag}">' in page
    current = re.findall(r'<span class="lang current" lang="([^"]+)" aria-current="true"', page)
    assert current == [language.tag]
    assert heading in page
    strings = strings_in(page)
    assert strings["copy"] == catalogue.gettext("Copy")
    assert strings["views_allowed"] == {
        category: catalogue.ngettext("Can be read %(n)s time.", "Can be read %(n)s times.", n)
        for category, n in language.plural_samples.items()}


@pytest.mark.parametrize("language", LANGUAGES.values(), ids=LANGUAGES.keys())
def test_every_language_links_to_every_other(client, language):
    page = page_in(client, language)
    links = re.findall(r'href="/lang/(\w+)\?next=', page)
    assert sorted(links) == sorted(code for code in LANGUAGES if code != language.code)
    for other in LANGUAGES.values():
        assert f'lang="{other.tag}"' in page and other.name in page


@pytest.mark.parametrize("language", LANGUAGES.values(), ids=LANGUAGES.keys())
def test_plural_forms_agree_with_the_browser_categories(language):
    """The catalogue's Plural-Forms picks, for every count, the form of its CLDR category."""
    catalogue = translations(language)
    rule = language.locale.plural_form
    samples = language.plural_samples
    for singular, plural in [(s.singular, s.plural) for s in web.JS_STRINGS.values()
                             if isinstance(s, web._n)]:
        for n in [*range(250), 1001, 10**6 + 2]:
            assert catalogue.ngettext(singular, plural, n) == \
                catalogue.ngettext(singular, plural, samples[rule(n)]), (singular, n)


# Accept-Language → language code. Every language's own tag picks it; regions and
# scripts we lack fall back to the language; zh splits by script.
ACCEPTED = [(language.tag, language.code) for language in LANGUAGES.values()] + [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
    ("zh", "zh_CN"),
    ("zh-Hans", "zh_CN"),
    ("zh-SG", "zh_CN"),
    ("zh-TW", "zh_TW"),
    ("zh-Hant", "zh_TW"),
    ("zh-HK", "zh_TW"),
    ("zh-Hant-HK,zh;q=0.8", "zh_TW"),
    ("zh_tw", "zh_TW"),
    ("en-GB,en;q=0.9", "en"),
    ("de-AT", "de"),
    ("de-CH,de;q=0.9", "de"),
    ("pt", "pt_BR"),
    ("pt-PT", "pt_BR"),
    ("es-419", "es"),
    ("es-MX,es;q=0.9", "es"),
    ("fr-CA", "fr"),
    ("ja-JP", "ja"),
    ("ko-KR", "ko"),
    ("ru-RU,ru;q=0.9,en;q=0.5", "ru"),
    ("uk, ru;q=0.8", "ru"),
    ("sw-KE, zh-TW;q=0.5", "zh_TW"),
    ("zh-TW;q=0.2, en;q=0.9", "en"),
    ("zh-TW;q=0, sw", "en"),
    ("x-klingon, *", "en"),
    ("", "en"),
]


@pytest.mark.parametrize("accept, code", ACCEPTED)
def test_language_follows_accept_language(client, accept, code):
    page = page_in(client, **{"Accept-Language": accept})
    assert f'<html lang="{LANGUAGES[code].tag}">' in page


def test_negotiated_languages_are_remembered_within_a_bound():
    for n in range(web.NEGOTIATED_MAX + 10):
        # Each value once: a client sending new values cannot grow the table past its bound.
        assert web.negotiated(f"x-made-up-{n}, de;q=0.5") is LANGUAGES["de"]
        assert len(web._NEGOTIATED) <= web.NEGOTIATED_MAX
    assert web.negotiated("x-made-up-0, fr;q=0.5") is LANGUAGES["fr"]
    assert web.negotiated("") is LANGUAGES["en"]


def test_chosen_language_is_remembered_over_accept_language(client):
    response = client.get("/lang/zh_CN?next=/r/" + "A" * 24)
    assert response.status_code == 303
    assert response.headers["Location"] == "/r/" + "A" * 24
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


def test_an_unknown_language_cookie_falls_back_to_accept_language(client):
    client.set_cookie(web.LANG_COOKIE, "xx")
    assert '<html lang="zh-TW">' in page_in(client, **{"Accept-Language": "zh-TW"})


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)"])
def test_language_switch_never_leaves_the_site(client, target):
    response = client.get("/lang/en", query_string={"next": target})
    assert response.headers["Location"] == "/"


def test_unknown_language_is_not_found(client):
    assert client.get("/lang/xx", headers=HTML).status_code == 404


def test_every_string_the_script_uses_exists():
    used = set()
    for module in (PACKAGE / "static" / "js").glob("*.js"):
        used |= set(re.findall(r'\bt\("(\w+)"', module.read_text()))
    assert used
    assert used <= set(web.JS_STRINGS), sorted(used - set(web.JS_STRINGS))


def source_messages() -> dict[str, str | tuple[str, str]]:
    """Every translatable string in web.py and the templates, as pybabel extracts it."""
    method_map = [("src/mayfly/web.py", "python"), ("src/mayfly/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "_n": (1, 2)}
    found = [message for _file, _line, message, _comments, _context in
             extract_from_dir(str(ROOT), method_map, keywords=keywords)]
    return {m if isinstance(m, str) else m[0]: m for m in found}


def test_catalogues_are_exactly_the_languages():
    """A catalogue in a folder Babel does not look in (zh_TW, not zh_Hant_TW) is never read."""
    folders = {path.name for path in TRANSLATIONS.iterdir() if path.is_dir()}
    assert folders == {language.catalogue for language in LANGUAGES.values()}


@pytest.mark.parametrize("language", LANGUAGES.values(), ids=LANGUAGES.keys())
def test_catalogue_translates_every_string(language):
    with open(folder(language) / "messages.po", "rb") as handle:
        catalogue = read_po(handle)
    translated = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalogue
                  if m.id and not m.fuzzy}
    wanted = source_messages()
    assert len(wanted) > 50
    missing = sorted(msgid for msgid in wanted if msgid not in translated
                     or not all(forms(translated[msgid].string)))
    assert not missing, f"{language.code} lacks: {missing}"
    for msgid, message in wanted.items():
        placeholders = sorted(re.findall(r"%\(\w+\)s", msgid))
        have = forms(translated[msgid].string)
        if isinstance(message, tuple):
            assert len(have) == catalogue.num_plurals, msgid
            assert translated[msgid].id == message, f"{msgid}: stale plural"
        for form in have:
            assert sorted(re.findall(r"%\(\w+\)s", form)) == placeholders, (msgid, form)


def forms(string: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A message's id or string as a tuple, plural or not (.mo files give lists)."""
    return (string,) if isinstance(string, str) else tuple(string)


@pytest.mark.parametrize("language", LANGUAGES.values(), ids=LANGUAGES.keys())
def test_compiled_catalogue_matches_its_source(language):
    with open(folder(language) / "messages.po", "rb") as po, \
            open(folder(language) / "messages.mo", "rb") as mo:
        source, compiled = read_po(po), read_mo(mo)
    want = {forms(m.id): forms(m.string) for m in source if m.id and not m.fuzzy}
    have = {forms(m.id): forms(m.string) for m in compiled if m.id}
    assert have == want, "run: pybabel compile -d src/mayfly/translations"
    assert compiled.plural_forms == source.plural_forms


def test_pages_link_assets_under_a_digest_of_their_content(client):
    from mayfly import asset_version

    page = client.get("/").get_data(as_text=True)
    assert f"/static/{asset_version()}/js/compose.js" in page
    assert f"/static/{asset_version()}/css/mayfly.css" in page
    with client.get(f"/static/{asset_version()}/js/crypto.js") as script:
        assert script.status_code == 200
