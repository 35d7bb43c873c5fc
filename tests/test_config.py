"""Settings: defaults, MAYFLY_* variables, explicit mappings, loud errors."""

from __future__ import annotations

import pytest

from mayfly import app_rules, config, create_app
from mayfly.errors import ConfigError


def test_defaults_are_the_documented_ones():
    settings = config.load(environ={})
    assert settings.max_ciphertext_bytes == 10 * 1024 * 1024
    assert (settings.min_lifetime, settings.default_lifetime, settings.max_lifetime) == (
        300, 86400, 7 * 86400)
    assert (settings.max_views, settings.max_attempts) == (100, 5)
    assert settings.sqlite_synchronous == "FULL"


def test_environment_variables_are_cast():
    settings = config.load(environ={"MAYFLY_MAX_VIEWS": "7", "MAYFLY_METRICS": "off",
                                    "MAYFLY_PUBLIC_URL": "https://x.example"})
    assert (settings.max_views, settings.metrics, settings.public_url) == (
        7, False, "https://x.example")


def test_a_mapping_overrides_the_environment():
    settings = config.load({"MAYFLY_MAX_VIEWS": 3}, environ={"MAYFLY_MAX_VIEWS": "7"})
    assert settings.max_views == 3


@pytest.mark.parametrize(("environ", "named"), [
    ({"MAYFLY_MAX_VIEWS": "lots"}, "MAYFLY_MAX_VIEWS"),
    ({"MAYFLY_MAX_VIEWS": "0"}, "MAYFLY_MAX_VIEWS"),
    ({"MAYFLY_METRICS": "maybe"}, "MAYFLY_METRICS"),
    ({"MAYFLY_MAX_LIFETIME": str(31 * 86400)}, "MAYFLY_MAX_LIFETIME"),
    ({"MAYFLY_MIN_LIFETIME": "0"}, "MAYFLY_MIN_LIFETIME"),
    ({"MAYFLY_DEFAULT_LIFETIME": "60"}, "MAYFLY_DEFAULT_LIFETIME"),
    ({"MAYFLY_SQLITE_SYNCHRONOUS": "OFF"}, "MAYFLY_SQLITE_SYNCHRONOUS"),
])
def test_a_bad_value_fails_loudly_naming_the_variable(environ, named):
    with pytest.raises(ConfigError, match=named):
        config.load(environ=environ)


def test_an_unknown_setting_is_refused():
    with pytest.raises(ConfigError, match="max_veiws"):
        config.load({"max_veiws": 3}, environ={})


def test_the_longest_lifetime_can_be_raised_to_30_days():
    assert config.load(environ={"MAYFLY_MAX_LIFETIME": str(30 * 86400)}).max_lifetime == 2592000


@pytest.mark.parametrize("url", ["postgres://x", "sqlite:/x.db", "sqlite://"])
def test_an_unsupported_storage_url_is_refused(url, tmp_path):
    with pytest.raises(ConfigError, match="MAYFLY_STORAGE_URL"):
        create_app({"storage_url": url, "data_dir": str(tmp_path)})


def test_sqlite_urls_are_relative_to_the_data_dir_or_absolute(tmp_path):
    relative = create_app({"storage_url": "sqlite:///sub/rel.db", "data_dir": str(tmp_path)})
    absolute = create_app({"storage_url": f"sqlite:///{tmp_path}/abs.db",
                           "data_dir": str(tmp_path / "elsewhere")})
    assert (tmp_path / "sub" / "rel.db").exists() and (tmp_path / "abs.db").exists()
    for app in (relative, absolute):
        app_rules(app).storage.close()
