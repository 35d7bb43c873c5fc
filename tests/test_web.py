"""The pages, through Flask's test client: headers, languages, Ashes and Oops, catalogues."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from mayfly import app_rules, crypto, web
from mayfly.errors import StorageUnavailable

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(str(files("mayfly")))
TRANSLATIONS = PACKAGE / "translations"
CATALOGUES = {"zh_CN": TRANSLATIONS / "zh_Hans_CN", "en": TRANSLATIONS / "en"}
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

@pytest.mark.parametrize("path", ["/", "/r/" + "A" * 24])
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


def test_notification_asks_for_no_passphrase_without_one(client):
    page = client.get(f"/s/{create(client)}").get_data(as_text=True)
    assert 'data-testid="notification"' in page
    assert 'data-testid="passphrase-input"' not in page


@pytest.mark.parametrize("path", ["/s/" + "A" * 24, "/s/short", "/no/such/page"])
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


# --- languages ---

@pytest.mark.parametrize("accept, lang, phrase", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", "写一条阅后即焚的消息"),
    ("zh", "zh-CN", "写一条阅后即焚的消息"),
    ("en-GB,en;q=0.9", "en", "Write a message that burns after reading"),
    ("fr-FR", "en", "Write a message that burns after reading"),
    ("", "en", "Write a message that burns after reading"),
])
def test_language_follows_accept_language(client, accept, lang, phrase):
    page = client.get("/", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert phrase in page


def test_chosen_language_is_remembered_over_accept_language(client):
    response = client.get("/lang/zh_CN?next=/r/" + "A" * 24)
    assert response.status_code == 303
    assert response.headers["Location"] == "/r/" + "A" * 24
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)"])
def test_language_switch_never_leaves_the_site(client, target):
    response = client.get("/lang/en", query_string={"next": target})
    assert response.headers["Location"] == "/"


def test_unknown_language_is_not_found(client):
    assert client.get("/lang/xx", headers=HTML).status_code == 404


def test_strings_for_the_script_are_translated_in_the_page(client):
    page = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    strings = re.search(r'<script type="application/json" id="mayfly-strings">(.*?)</script>',
                        page, re.S)[1]
    assert "\\u5df2\\u590d\\u5236" in strings  # 已复制, escaped by tojson
    assert "<" not in strings


def test_every_string_the_script_uses_exists():
    used = set()
    for module in (PACKAGE / "static" / "js").glob("*.js"):
        used |= set(re.findall(r'\bt\("(\w+)"', module.read_text()))
    assert used
    assert used <= set(web.JS_STRINGS), sorted(used - set(web.JS_STRINGS))


def source_messages() -> set[str]:
    """Every translatable string in web.py and the templates, as pybabel would extract it."""
    method_map = [("src/mayfly/web.py", "python"), ("src/mayfly/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    found = {message for _file, _line, message, _comments, _context in
             extract_from_dir(str(ROOT), method_map, keywords=keywords)}
    return {m if isinstance(m, str) else m[0] for m in found}


@pytest.mark.parametrize("language", sorted(CATALOGUES))
def test_catalogue_translates_every_string(language):
    with open(CATALOGUES[language] / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id: m.string for m in catalogue if m.id and m.string and not m.fuzzy}
    wanted = source_messages()
    assert len(wanted) > 50
    missing = sorted(wanted - set(translated))
    assert not missing, f"{language} lacks: {missing}"
    for msgid in wanted:
        placeholders = sorted(re.findall(r"%\(\w+\)s", msgid))
        assert sorted(re.findall(r"%\(\w+\)s", translated[msgid])) == placeholders, msgid


@pytest.mark.parametrize("language", sorted(CATALOGUES))
def test_compiled_catalogue_matches_its_source(language):
    folder = CATALOGUES[language] / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as po, open(folder / "messages.mo", "rb") as mo:
        source, compiled = read_po(po), read_mo(mo)
    want = {m.id: m.string for m in source if m.id and m.string and not m.fuzzy}
    have = {m.id: m.string for m in compiled if m.id}
    assert have == want, "run: pybabel compile -d src/mayfly/translations"


def test_pages_link_assets_under_a_digest_of_their_content(client):
    from mayfly import asset_version

    page = client.get("/").get_data(as_text=True)
    assert f"/static/{asset_version()}/js/compose.js" in page
    assert f"/static/{asset_version()}/css/mayfly.css" in page
    with client.get(f"/static/{asset_version()}/js/crypto.js") as script:
        assert script.status_code == 200
