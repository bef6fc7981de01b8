"""Settings from the environment and from a TOML file."""

from __future__ import annotations

import pytest

from driftrec.config import ConfigError, load_settings


def test_defaults_work_on_a_fresh_machine(monkeypatch):
    for name in ("DRIFTREC_DATABASE_URL", "DRIFTREC_CONFIG", "DRIFTREC_API_KEYS_READ",
                 "DRIFTREC_API_KEYS_ADMIN"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert s.database_url == "sqlite:///./driftrec.db"
    assert s.auth_enabled is False


def test_environment_with_comma_separated_keys(monkeypatch):
    monkeypatch.setenv("DRIFTREC_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
    monkeypatch.setenv("DRIFTREC_API_KEYS_READ", "r1, r2")
    monkeypatch.setenv("DRIFTREC_API_KEYS_ADMIN", "a1")
    monkeypatch.setenv("DRIFTREC_ID_SECRET", "s3cret")
    s = load_settings()
    assert s.database_url.startswith("postgresql+psycopg://")
    assert s.api_keys_read == ["r1", "r2"] and s.api_keys_admin == ["a1"]
    assert s.id_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)


def test_toml_file_uses_the_same_names_and_the_environment_wins(tmp_path, monkeypatch):
    path = tmp_path / "driftrec.toml"
    path.write_text('DATABASE_URL = "sqlite:///from-file.db"\n'
                    'API_KEYS_ADMIN = ["a1", "a2"]\nmax_k = 50\n')
    s = load_settings(path)
    assert s.database_url == "sqlite:///from-file.db"
    assert s.api_keys_admin == ["a1", "a2"] and s.max_k == 50
    monkeypatch.setenv("DRIFTREC_CONFIG", str(path))
    monkeypatch.setenv("DRIFTREC_MAX_K", "70")
    assert load_settings().max_k == 70


def test_bad_settings_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("DATABSE_URL = 'x'\n")
    with pytest.raises(ConfigError, match="DATABSE_URL"):
        load_settings(bad)
