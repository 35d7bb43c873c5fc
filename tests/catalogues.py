"""Every language's compiled catalogue, read by tests to know what a page should say."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from babel.support import Translations

from mayfly.languages import Language

TRANSLATIONS = Path(str(files("mayfly"))) / "translations"


def folder(language: Language) -> Path:
    """Where a language's messages.po and messages.mo live."""
    return TRANSLATIONS / language.catalogue / "LC_MESSAGES"


def translations(language: Language) -> Translations:
    """A language's compiled catalogue (what the server reads)."""
    with open(folder(language) / "messages.mo", "rb") as compiled:
        return Translations(compiled)
