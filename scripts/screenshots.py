#!/usr/bin/env python3
"""Take docs/screenshots/: every page, light and dark, zh and en, desktop and phone;
and the compose page in each other language of LANGUAGES.

Run from the repository: .venv/bin/python scripts/screenshots.py
(--requests: only the pages of requests for a secret). It starts mayfly under
uWSGI on a free port, drives Debian's Chromium through each page and, if
pngquant is installed, shrinks the PNGs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from tests.browser.conftest import launch  # noqa: E402
from tests.browser.story import (  # noqa: E402
    ask_for_secret,
    create_secret,
    open_link,
    open_request,
    read_message,
    request_state,
)
from tests.live import LiveServer  # noqa: E402

from mayfly.languages import LANGUAGES, Language  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Each page in four variants: together they cover both languages, schemes and widths.
VARIANTS = [
    ("en", "en-US", "light", "desktop"),
    ("en", "en-US", "dark", "phone"),
    ("zh", "zh-CN", "light", "phone"),
    ("zh", "zh-CN", "dark", "desktop"),
]
TEXT = {
    "en": "The door code is 4711-2580.\nThe spare key is under the blue flower pot.",
    "zh": "门禁密码是 4711-2580。\n备用钥匙在蓝色花盆下面。",
}
REPLY = {
    "en": "Got it, thanks! I'll be there at 7.",
    "zh": "收到，谢谢！我七点到。",
}
NOTE = {
    "en": "The staging database password, please (for the deploy tonight).",
    "zh": "请给我测试环境数据库的密码（今晚部署要用）。",
}
ANSWER = {
    "en": "staging-db: correct-horse-battery-staple",
    "zh": "测试库密码：correct-horse-battery-staple",
}
# The same message in the languages that get one page each (compose-<code>-light-desktop).
MORE_TEXT = {
    "de": "Der Türcode ist 4711-2580.\nDer Ersatzschlüssel liegt unter dem blauen Blumentopf.",
    "es": "El código de la puerta es 4711-2580.\nLa llave de repuesto está bajo la maceta azul.",
    "fr": "Le code de la porte est 4711-2580.\nLa clé de secours est sous le pot de fleurs bleu.",
    "pt_BR": "O código da porta é 4711-2580.\nA chave reserva está embaixo do vaso azul.",
    "ru": "Код от двери: 4711-2580.\nЗапасной ключ лежит под синим цветочным горшком.",
    "ja": "ドアの暗証番号は 4711-2580 です。\n合鍵は青い植木鉢の下にあります。",
    "ko": "현관 비밀번호는 4711-2580입니다.\n예비 열쇠는 파란 화분 밑에 있어요.",
    "zh_TW": "門禁密碼是 4711-2580。\n備用鑰匙在藍色花盆底下。",
}


def shoot(page: Page, name: str) -> None:
    page.wait_for_timeout(150)  # let the focus ring and fonts settle before the picture
    page.screenshot(path=OUT / f"{name}.png", full_page=True)


def pages_for(context_of, lang: str, scheme: str, width: str) -> None:
    tag = f"{lang}-{scheme}-{width}"
    sender = context_of().new_page()
    sender.goto("/")
    sender.get_by_test_id("message-input").fill(TEXT[lang])
    sender.get_by_test_id("file-input").set_input_files(
        [{"name": "floor-plan.pdf", "mimeType": "application/pdf", "buffer": b"%PDF" * 9000}])
    sender.get_by_test_id("passphrase").fill("blue flower")
    sender.locator("body").click(position={"x": 5, "y": 5})
    shoot(sender, f"compose-{tag}")

    shared = create_secret(sender, TEXT[lang], passphrase="blue flower")
    shoot(sender, f"share-{tag}")

    reader = context_of().new_page()
    open_link(reader, shared.link)
    shoot(reader, f"notification-{tag}")
    read_message(reader, passphrase="blue flower")
    shoot(reader, f"message-{tag}")
    reader.get_by_test_id("reply").click()
    reader.get_by_test_id("reply-input").fill(REPLY[lang])
    shoot(reader, f"reply-{tag}")
    reader.get_by_test_id("reply-send").click()
    expect(reader.get_by_test_id("reply-sent")).to_be_visible()
    reader.reload()
    expect(reader.get_by_test_id("ashes")).to_be_visible()
    shoot(reader, f"ashes-{tag}")

    sender.goto(shared.receipt_link)
    expect(sender.get_by_test_id("receipt-state")).to_have_attribute("data-state", "read")
    shoot(sender, f"receipt-{tag}")
    sender.get_by_test_id("reply-open").click()
    expect(sender.get_by_test_id("reply-text")).to_be_visible()
    shoot(sender, f"replies-{tag}")

    another = create_secret(sender, TEXT[lang])
    broken = context_of().new_page()
    broken.goto(another.link[:-6])  # a link cut short
    expect(broken.get_by_test_id("oops")).to_be_visible()
    shoot(broken, f"oops-{tag}")


def requests_for(context_of, lang: str, scheme: str, width: str) -> None:
    """Ask, the request answered, the second answer refused, the answer link and the answer."""
    tag = f"{lang}-{scheme}-{width}"
    asker = context_of().new_page()
    asker.goto("/ask")
    asker.get_by_test_id("note-input").fill(NOTE[lang])
    asker.locator("body").click(position={"x": 5, "y": 5})
    shoot(asker, f"ask-{tag}")
    asked = ask_for_secret(asker, NOTE[lang])
    shoot(asker, f"asked-{tag}")

    first, second = context_of().new_page(), context_of().new_page()
    for page in (first, second):
        open_request(page, asked.link)
        page.get_by_test_id("answer-input").fill(ANSWER[lang])
    first.locator("body").click(position={"x": 5, "y": 5})
    shoot(first, f"request-{tag}")
    first.get_by_test_id("answer-send").click()
    expect(first.get_by_test_id("answer-sent")).to_be_visible()
    second.get_by_test_id("answer-send").click()
    expect(second.get_by_test_id("answer-hint")).to_be_visible()
    shoot(second, f"request-answered-{tag}")

    assert request_state(asker, asked.answer_link) == "answered"
    shoot(asker, f"answer-link-{tag}")
    asker.get_by_test_id("read-answer").click()
    expect(asker.get_by_test_id("answer-text")).to_be_visible()
    shoot(asker, f"answer-{tag}")


def compose_in(browser, server: LiveServer, language: Language) -> None:
    """The filled-in compose page in a language the browser asks for (Accept-Language)."""
    context = browser.new_context(base_url=server.url, locale=language.tag, viewport=DESKTOP)
    page = context.new_page()
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", language.tag)
    page.get_by_test_id("message-input").fill(MORE_TEXT[language.code])
    page.get_by_test_id("passphrase").fill("blue flower")
    page.locator("body").click(position={"x": 5, "y": 5})
    shoot(page, f"compose-{language.code}-light-desktop")
    context.close()


def main() -> None:
    only_requests = "--requests" in sys.argv[1:]
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work, LiveServer(Path(work), processes=2) as server, \
            sync_playwright() as playwright:
        browser = launch(playwright)
        for lang, locale, scheme, width in VARIANTS:
            viewport = DESKTOP if width == "desktop" else PHONE
            contexts = []

            def context_of(locale=locale, scheme=scheme, viewport=viewport, contexts=contexts,
                           **options):
                context = browser.new_context(
                    base_url=server.url, locale=locale, color_scheme=scheme, viewport=viewport,
                    device_scale_factor=1 if viewport is DESKTOP else 2, **options)
                contexts.append(context)
                return context

            if only_requests:
                requests_for(context_of, lang, scheme, width)
                for context in contexts:
                    context.close()
                continue
            pages_for(context_of, lang, scheme, width)
            requests_for(context_of, lang, scheme, width)
            if (lang, scheme, width) == ("en", "light", "desktop"):
                page = context_of(java_script_enabled=False).new_page()
                page.goto(server.url + "/")
                shoot(page, "noscript-en-light-desktop")
            for context in contexts:
                context.close()
        for code in MORE_TEXT if not only_requests else ():
            compose_in(browser, server, LANGUAGES[code])
        browser.close()
    pngquant = shutil.which("pngquant")
    if pngquant:
        wanted = ("ask-", "asked-", "request-", "answer-") if only_requests else ("",)
        pictures = sorted(str(p) for p in OUT.glob("*.png") if p.name.startswith(wanted))
        subprocess.run([pngquant, "--force", "--skip-if-larger", "--strip", "--ext", ".png",
                        "--quality", "70-95", *pictures], check=False)
    print(f"{len(list(OUT.glob('*.png')))} screenshots in {OUT}")


if __name__ == "__main__":
    main()
