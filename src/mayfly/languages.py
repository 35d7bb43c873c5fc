"""The languages mayfly speaks: one table that pages, the switch, catalogues and tests follow.

Adding a language is a row in LANGUAGES and a catalogue under translations/
(docs/web.md has the steps). Nothing else names a language.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from babel import Locale, UnknownLocaleError


@dataclass(frozen=True)
class Language:
    """One language of the pages."""

    code: str  # in URLs, the cookie and `pybabel init -l`: zh_TW
    name: str  # what its readers call it, shown in the switch

    @cached_property
    def locale(self) -> Locale:
        return Locale.parse(self.code)

    @property
    def tag(self) -> str:
        """The BCP 47 tag for <html lang> and the browser's Intl: zh-TW."""
        return self.code.replace("_", "-")

    @property
    def catalogue(self) -> str:
        """Babel's name for the catalogue's folder: zh_TW is zh_Hant_TW."""
        return str(self.locale)

    @cached_property
    def plural_samples(self) -> dict[str, int]:
        """A whole number for each CLDR plural category it has: {"one": 1, "other": 0}."""
        rule = self.locale.plural_form
        samples: dict[str, int] = {}
        for number in [*range(200), *(10 ** power for power in range(3, 8))]:
            samples.setdefault(rule(number), number)
        # The browser falls back to "other" for a category it knows and Babel does not.
        samples.setdefault("other", max(samples.values()))
        return samples


# In the switch's order: Latin script by name, then Cyrillic, then CJK. Where two
# share a language (zh), the first is the one a bare tag (zh) picks.
LANGUAGES = {language.code: language for language in [
    Language("de", "Deutsch"),
    Language("en", "English"),
    Language("es", "Español"),
    Language("fr", "Français"),
    Language("pt_BR", "Português (Brasil)"),
    Language("ru", "Русский"),
    Language("ja", "日本語"),
    Language("ko", "한국어"),
    Language("zh_CN", "简体中文"),
    Language("zh_TW", "繁體中文"),
]}
DEFAULT = LANGUAGES["en"]
_BY_CATALOGUE = {language.catalogue: language for language in LANGUAGES.values()}


def by_locale(locale: Locale | None) -> Language:
    """The language of a locale Flask-Babel selected (its catalogue's name)."""
    return _BY_CATALOGUE.get(str(locale), DEFAULT)


def negotiate(tags: Iterable[str]) -> Language | None:
    """Our best language for the reader's tags, most wanted first (Accept-Language).

    A tag picks the language it names even through a region or script we lack
    (de-AT is de, pt is pt_BR), and a script or region picks between two of one
    language: zh-TW, zh-HK and zh-Hant are zh_TW; zh-CN, zh-Hans and plain zh are zh_CN.
    """
    for tag in tags:
        wanted = _parse(tag)
        if wanted is None:
            continue
        same = [language for language in LANGUAGES.values()
                if language.locale.language == wanted.language]
        if same:
            return max(same, key=lambda language: _closeness(language.locale, wanted))
    return None


def _parse(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag.strip().replace("_", "-"), sep="-")
    except (ValueError, TypeError, UnknownLocaleError):
        return None  # "*", private use and made-up tags name nothing we have


def _closeness(ours: Locale, wanted: Locale) -> tuple[bool, bool]:
    """The script counts first (zh-Hant), then the region; max() keeps the first of a tie."""
    return (bool(wanted.script) and ours.script == wanted.script,
            bool(wanted.territory) and ours.territory == wanted.territory)
