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


def from_environment(name: str, value: str) -> config.Settings:
    return config.load(environ={f"MAYFLY_{name.upper()}": value})


def from_mapping(name: str, value: str) -> config.Settings:
    return config.load({name: value}, environ={})


# Every way a setting arrives goes through the same casting and checks.
ARRIVALS = [from_environment, from_mapping]


@pytest.mark.parametrize("arrive", ARRIVALS)
@pytest.mark.parametrize(("name", "text", "value"), [
    ("max_views", "7", 7),
    ("metrics", "off", False),
    ("metrics", "yes", True),
    ("public_url", "https://x.example", "https://x.example"),
    ("sqlite_synchronous", "NORMAL", "NORMAL"),
])
def test_text_is_cast_however_it_arrives(arrive, name, text, value):
    assert getattr(arrive(name, text), name) == value


@pytest.mark.parametrize("arrive", ARRIVALS)
@pytest.mark.parametrize(("name", "text"), [
    ("max_views", "lots"),
    ("max_views", "0"),
    ("max_views", "3.5"),
    ("metrics", "maybe"),
    ("max_lifetime", str(31 * 86400)),
    ("min_lifetime", "0"),
    ("default_lifetime", "60"),
    ("sqlite_synchronous", "OFF"),
])
def test_a_bad_value_fails_loudly_naming_the_setting(arrive, name, text):
    with pytest.raises(ConfigError, match=f"MAYFLY_{name.upper()}"):
        arrive(name, text)


@pytest.mark.parametrize(("name", "value"), [
    ("max_views", True), ("max_views", 3.0), ("metrics", 0), ("metrics", None),
    ("public_url", 3),
])
def test_a_mapping_value_of_the_wrong_type_is_refused_naming_the_setting(name, value):
    with pytest.raises(ConfigError, match=f"MAYFLY_{name.upper()}"):
        config.load({name: value}, environ={})


def test_a_mapping_may_give_values_of_their_own_type():
    settings = config.load({"max_views": 3, "metrics": False}, environ={})
    assert (settings.max_views, settings.metrics) == (3, False)


def test_a_mapping_overrides_the_environment():
    settings = config.load({"MAYFLY_MAX_VIEWS": 3}, environ={"MAYFLY_MAX_VIEWS": "7"})
    assert settings.max_views == 3


def test_the_app_takes_text_settings_as_the_environment_would(tmp_path):
    app = create_app({"data_dir": str(tmp_path), "metrics": "off", "max_views": "3"})
    try:
        assert app_rules(app).settings.max_views == 3
        assert app.test_client().get("/metrics").status_code == 404
    finally:
        app_rules(app).storage.close()


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
