"""Generated secrets: private file, stable values, follows the advisors of the configuration."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest
import yaml

from ccpros_agi.config import Advisor, Config, load_config
from ccpros_agi.secrets import Secrets, SecretsError, load_or_create_secrets

DEMO = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(DEMO)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def all_values(s: Secrets) -> list[str]:
    return [*s.advisor_passwords.values(), s.ami_secret, s.ari_password, s.db_password]


def test_created_private(tmp_path: Path, config: Config) -> None:
    path = tmp_path / "var" / "secrets.yaml"
    secrets = load_or_create_secrets(path, config)
    assert path.exists()
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert set(secrets.advisor_passwords) == {a.id for a in config.advisors}
    assert secrets.ami_user and secrets.ari_user
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_strong_and_distinct(tmp_path: Path, config: Config) -> None:
    secrets = load_or_create_secrets(tmp_path / "secrets.yaml", config)
    values = all_values(secrets)
    assert all(len(v) >= 24 for v in values)
    assert len(set(values)) == len(values)


def test_stable_across_loads(tmp_path: Path, config: Config) -> None:
    path = tmp_path / "secrets.yaml"
    first = load_or_create_secrets(path, config)
    before = path.stat().st_mtime_ns
    second = load_or_create_secrets(path, config)
    assert first == second
    assert path.stat().st_mtime_ns == before  # unchanged: not rewritten


def test_new_and_removed_advisors(tmp_path: Path, config: Config) -> None:
    path = tmp_path / "secrets.yaml"
    first = load_or_create_secrets(path, config)
    newcomer = Advisor(id="pau-05", name="Inès Arrieta", site="pau", topics=("tva",))
    changed = dataclasses.replace(config, advisors=(*config.advisors[1:], newcomer))
    second = load_or_create_secrets(path, changed)
    assert "pau-05" in second.advisor_passwords and len(second.advisor_passwords["pau-05"]) >= 24
    assert "pau-01" not in second.advisor_passwords
    assert "pau-01" not in yaml.safe_load(path.read_text())["advisor_passwords"]
    for advisor in config.advisors[1:]:
        assert second.advisor_passwords[advisor.id] == first.advisor_passwords[advisor.id]
    assert (second.ami_secret, second.ari_password, second.db_password) == (
        first.ami_secret, first.ari_password, first.db_password)
    assert mode(path) == 0o600


def test_missing_entry_regenerated_others_kept(tmp_path: Path, config: Config) -> None:
    path = tmp_path / "secrets.yaml"
    first = load_or_create_secrets(path, config)
    data = yaml.safe_load(path.read_text())
    del data["db_password"]
    path.write_text(yaml.safe_dump(data))
    second = load_or_create_secrets(path, config)
    assert second.db_password and second.db_password != first.db_password
    assert second.ami_secret == first.ami_secret
    assert second.advisor_passwords == first.advisor_passwords


def test_mode_repaired(tmp_path: Path, config: Config) -> None:
    path = tmp_path / "secrets.yaml"
    load_or_create_secrets(path, config)
    path.chmod(0o644)
    load_or_create_secrets(path, config)
    assert mode(path) == 0o600


def test_invalid_file_not_overwritten(tmp_path: Path, config: Config) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text("ami_secret: [unclosed\n")
    with pytest.raises(SecretsError):
        load_or_create_secrets(path, config)
    assert path.read_text() == "ami_secret: [unclosed\n"


def test_repr_hides_secrets(tmp_path: Path, config: Config) -> None:
    secrets = load_or_create_secrets(tmp_path / "secrets.yaml", config)
    assert secrets.ami_secret not in repr(secrets)
    assert secrets.advisor_passwords["pau-01"] not in repr(secrets)
