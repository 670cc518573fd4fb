"""Generated Asterisk configuration: golden files of the demo configuration, and the guards.

To accept a deliberate change of the output: ``UPDATE_GOLDEN=1 pytest tests/unit/test_confgen.py``,
then review the diff of tests/unit/golden/ like any other change."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ccpros_agi import confgen
from ccpros_agi.config import load_config
from ccpros_agi.pbx.instance import AsteriskError, InstanceSettings, fill, static_files

PROJECT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def config():
    return load_config(PROJECT / "config")


@pytest.fixture(scope="module")
def passwords(config):
    return {a.id: f"pw-{a.id}" for a in config.advisors}


@pytest.mark.parametrize("name", ["pjsip_generated.conf", "queues_generated.conf", "extensions_generated.conf",
                                  "queuerules.conf"])
def test_generated_file_matches_golden(config, passwords, name):
    text = confgen.generate(config, passwords, "/sounds")[name]
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_every_advisor_is_an_endpoint_with_auth_and_aor(config, passwords):
    text = confgen.render_pjsip(config, passwords)
    for advisor in config.advisors:
        assert text.count(f"[{advisor.id}]\n") == 3
        assert f"password=pw-{advisor.id}\n" in text


def test_trunk_is_identified_by_ip_only_and_never_dials_out(config, passwords):
    text = confgen.render_pjsip(config, passwords)
    trunk = text.split("[trunk]\n", 1)[1].split("\n\n", 1)[0]
    assert "context=from-trunk" in trunk and "auth=" not in trunk and "direct_media=no" in trunk
    assert "match=127.0.0.2" in text


def test_queues_do_not_ring_busy_advisors(config):
    text = confgen.render_queues(config, "/sounds")
    # the topics' queues (national and per home site) and each advisor's own queue (repeat callers)
    assert text.count("ringinuse=no") == len(config.topics) * (1 + len(config.sites)) + len(config.advisors)
    assert "strategy=ringall" not in text


def test_display_name_cannot_break_the_config(config, passwords):
    from dataclasses import replace

    evil = replace(config.advisors[0], name='Eve" <sip:x>;\nfoo=bar')
    cfg = replace(config, advisors=(evil, *config.advisors[1:]))
    text = confgen.render_pjsip(cfg, passwords)
    assert 'callerid="Eve sip:xfoo=bar" <' in text


def settings(**overrides) -> InstanceSettings:
    values = dict(sip_port=5060, ami_port=5038, http_port=8088, agi_port=4573, rtp_start=10000, rtp_end=10999,
                  ami_user="ccpros", ami_secret="s", ari_user="ccpros", ari_password="p", db_host="127.0.0.1",
                  db_port=5432, db_name="ccpros", db_user="cel", db_password="c", general_queue="q-conseiller")
    values.update(overrides)
    return InstanceSettings(**values)


def test_static_files_are_filled_and_bound_to_localhost():
    files = static_files(settings(), "/var/lib/ccpros/instances/x")
    assert not any("{{" in text for text in files.values())
    assert "bindaddr = 127.0.0.1" in files["manager.conf"] and "bindaddr = 127.0.0.1" in files["http.conf"]
    assert "bind = 127.0.0.1:5060" in files["pjsip.conf"]
    assert "astrundir => /var/lib/ccpros/instances/x/run" in files["asterisk.conf"]
    assert "dialplan_inbound.conf" in files and "dialplan_advisors.conf" in files


def test_modules_loaded_explicitly_without_shell_access():
    files = static_files(settings(), "/x")
    modules = files["modules.conf"]
    assert "autoload = no" in modules
    for dangerous in ("app_system.so", "func_shell.so", "app_mixmonitor.so", "res_pjsip_config_wizard.so"):
        assert f"load => {dangerous}" not in modules


def test_fill_refuses_unknown_tokens_and_line_breaks():
    with pytest.raises(AsteriskError, match="no value for"):
        fill("x={{nope}}", {}, source="t")
    with pytest.raises(AsteriskError, match="line break"):
        static_files(settings(ami_secret="a\n[evil]"), "/x")


def test_timer_overflow_becomes_a_queue_rule(config):
    from dataclasses import replace

    topics = tuple(replace(t, overflow="timer:20") if t.id == "cfe" else t for t in config.topics)
    text = confgen.render_queue_rules(replace(config, topics=topics))
    assert "[ccpros-cfe]\n; CFE / IFER: timer:20\npenaltychange => 20,1\n" in text
