"""The sender's email: the state and the times, in their language; no content, no link."""

from __future__ import annotations

import pytest

from mayfly.notices.mail import catalogue, compose, message_id
from mayfly.storage.base import Notice

SECRET_ID = "q1UxAbCdEfGhIjKlMnOpQrSt"


def notice(state: str = "read", views_left: int = 0, language: str = "en") -> Notice:
    return Notice(key=f"{SECRET_ID}:x/email", event_id=f"{SECRET_ID}:read:1", channel="email",
                  secret_id=SECRET_ID, state=state, at=1_800_000_600.0, views_left=views_left,
                  created_at=1_800_000_000.0, queued_at=1_800_000_600.0, attempts=1,
                  address="sender@example.org", language=language)


@pytest.mark.parametrize("state, views_left, says", [
    ("read", 0, "no view is left"), ("waiting", 2, "Views left: 2."),
    ("failed", 1, "too many wrong passphrases"), ("expired", 1, "without being read")])
def test_a_notice_says_what_happened_and_when(state, views_left, says):
    mail = compose(notice(state, views_left), "mayfly@example.org")
    body = mail.get_content()
    assert says in body
    assert "2027-01-15 08:00 UTC" in body and "2027-01-15 08:10 UTC" in body
    assert (mail["To"], mail["From"]) == ("sender@example.org", "mayfly@example.org")


def test_a_notice_names_no_id_and_links_to_nothing():
    mail = compose(notice(), "mayfly@example.org").as_string()
    assert SECRET_ID not in mail
    assert "http" not in mail and "/s/" not in mail and "/r/" not in mail


def test_a_notice_speaks_the_senders_language_and_falls_back_to_english():
    chinese = compose(notice(language="zh_CN"), "mayfly@example.org")
    assert str(chinese["Subject"]) == "mayfly：你的消息已被阅读"
    assert "没有剩余的查看次数" in chinese.get_content()
    for language in ("de", "xx", None):
        assert compose(notice(language=language), "m@example.org")["Subject"] == \
            "mayfly: your message was read"


def test_each_event_has_its_own_message_id_the_same_on_every_retry():
    first, again = notice(), notice()
    assert message_id(first) == message_id(again)
    other = Notice(**{**first.__dict__, "event_id": f"{SECRET_ID}:read:2"})
    assert message_id(other) != message_id(first)
    assert SECRET_ID not in message_id(first)


def test_the_chinese_catalogue_is_compiled_from_its_source():
    from importlib.resources import files

    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    folder = files("mayfly").joinpath("translations/zh_Hans_CN/LC_MESSAGES")
    with folder.joinpath("notices.po").open("rb") as po, \
            folder.joinpath("notices.mo").open("rb") as mo:
        source, compiled = read_po(po), read_mo(mo)
    want = {m.id: m.string for m in source if m.id}
    assert want and all(want.values())
    assert {m.id: m.string for m in compiled if m.id} == want, \
        "run: pybabel compile -D notices -d src/mayfly/translations -l zh_Hans_CN"
    assert catalogue("zh_CN").gettext("mayfly: your message was burned") != \
        "mayfly: your message was burned"
