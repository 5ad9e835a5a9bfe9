import os
import subprocess
import sys

import pytest

from smart_support.errors import ConfigError
from smart_support.settings import load_settings


def test_auto_provider_falls_back_to_the_offline_model_without_keys(monkeypatch):
    monkeypatch.setenv("LLM_PROVIDER", "auto")
    assert load_settings().resolved_provider() == "offline"


def test_auto_provider_picks_anthropic_when_its_key_is_set(monkeypatch):
    monkeypatch.setenv("LLM_PROVIDER", "auto")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    assert load_settings().resolved_provider() == "anthropic"


def test_a_bad_setting_is_one_line_naming_the_setting(monkeypatch):
    monkeypatch.setenv("APPROVAL_TTL_SECONDS", "-5")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "APPROVAL_TTL_SECONDS" in str(err.value)
    assert "\n" not in str(err.value)


def test_an_unknown_database_scheme_is_refused(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings()


def test_allowlist_and_prices_parse_from_the_environment(monkeypatch):
    monkeypatch.setenv("EGRESS_ALLOWLIST", "127.0.0.1:8001, localhost:9000")
    monkeypatch.setenv("MODEL_PRICES", '{"my-model": [1.5, 2.5]}')
    settings = load_settings()
    assert settings.egress_allowlist == ["127.0.0.1:8001", "localhost:9000"]
    assert settings.prices()["my-model"] == (1.5, 2.5)
    assert settings.prices()["claude-sonnet-4-6"] == (3.0, 15.0)


@pytest.mark.parametrize(
    ("provider", "key"), [("anthropic", "ANTHROPIC_API_KEY"), ("openai", "OPENAI_API_KEY")]
)
def test_a_provider_without_its_key_stops_start_up_with_one_line(monkeypatch, provider, key):
    monkeypatch.setenv("LLM_PROVIDER", provider)
    monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith("invalid setting LLM_PROVIDER: ")
    assert key in message and "LLM_PROVIDER=offline" in message
    assert "\n" not in message


def test_a_provider_with_its_key_starts(monkeypatch):
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    assert load_settings().resolved_provider() == "openai"


def test_the_cli_refuses_a_provider_without_its_key_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["LLM_PROVIDER"] = "anthropic"
    process = subprocess.run(
        [sys.executable, "-m", "smart_support.cli", "chat"],
        input="",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert process.returncode == 2
    assert process.stdout == ""
    assert process.stderr.strip().splitlines() == [
        "error: invalid setting LLM_PROVIDER: anthropic needs ANTHROPIC_API_KEY in the"
        " environment, or use LLM_PROVIDER=offline"
    ]
