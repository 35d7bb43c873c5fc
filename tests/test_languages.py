"""The table of languages: tags, catalogues, negotiation and plural samples, without a server."""

from __future__ import annotations

import pytest
from babel import Locale

from mayfly.languages import DEFAULT, LANGUAGES, Language, by_locale, negotiate


@pytest.mark.parametrize("language", LANGUAGES.values(), ids=LANGUAGES.keys())
def test_a_language_is_found_again_from_its_locale(language):
    assert by_locale(Locale.parse(language.code)) is language
    assert negotiate([language.tag]) is language
    assert negotiate([language.code.lower()]) is language


def test_an_unknown_locale_is_the_default():
    assert by_locale(Locale.parse("sw")) is DEFAULT
    assert by_locale(None) is DEFAULT


@pytest.mark.parametrize("tags", [[], ["*"], ["x-klingon"], ["i-default"], ["../../etc"],
                                  ["a" * 500], ["zz-ZZ"], ["en-\x00"], [" "]])
def test_tags_that_name_nothing_we_have_pick_nothing(tags):
    assert negotiate(tags) is None


def test_the_first_tag_we_have_wins():
    assert negotiate(["sw", "zh-TW", "en"]) is LANGUAGES["zh_TW"]


def test_a_script_beats_list_order_within_a_language():
    assert negotiate(["zh-Hant"]) is LANGUAGES["zh_TW"]
    assert negotiate(["zh"]) is LANGUAGES["zh_CN"]


def test_plural_samples_cover_each_whole_number_category():
    russian = Language("ru", "Русский")
    assert russian.plural_samples["one"] == 1
    assert russian.plural_samples["few"] == 2
    assert russian.plural_samples["many"] == 0
    assert "other" in russian.plural_samples  # only fractions are "other" in Russian
    assert Language("ja", "日本語").plural_samples == {"other": 0}


def test_tag_and_catalogue_names():
    taiwan = Language("zh_TW", "繁體中文")
    assert taiwan.tag == "zh-TW"
    assert taiwan.catalogue == "zh_Hant_TW"
    assert Language("pt_BR", "Português").catalogue == "pt_BR"
