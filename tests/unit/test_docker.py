"""The production deployment (docker/), checked without a Docker engine.

The compose file is parsed with PyYAML, the Dockerfiles with a small reader below; the package list
the Asterisk image installs is computed with the image's own shell pipeline and compared with the one
of asterisk/install.sh; the setup script renders the Asterisk config from the demo configuration with
the database and prompts left out. ``docker compose config`` runs only where the compose plugin is.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from ccpros_agi.cli import build_parser
from ccpros_agi.pbx import instance as pbx_instance
from ccpros_agi.pbx.instance import AsteriskInstance
from ccpros_agi.store import migrate

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / "env.example"
ASTERISK_DOCKERFILE = DOCKER / "asterisk" / "Dockerfile"
APP_DOCKERFILE = DOCKER / "app" / "Dockerfile"
PACKAGES = ROOT / "asterisk" / "packages.txt"
INSTALL_SH = ROOT / "asterisk" / "install.sh"

LONG_RUNNING = {"postgres", "asterisk", "agi", "events"}
ONE_SHOT = {"setup"}
HOST_NETWORK = {"asterisk", "agi", "events", "setup"}
INSTANCE = AsteriskInstance(ROOT / ".local" / "asterisk-root", "prod")   # paths only, nothing started
RUNTIME_FILE = "/run/ccpros/runtime.json"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


# -- readers -----------------------------------------------------------------------------------------
def dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        instruction, _, args = full.partition(" ")
        out.append((instruction.upper(), args.strip()))
    assert not pending, f"{path}: unterminated continuation line"
    return out


def instructions(path: Path, name: str) -> list[str]:
    return [args for instr, args in dockerfile(path) if instr == name]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"expected the exec (JSON) form, got {args!r}"
    return value


def volume_parts(entry: str | dict) -> tuple[str, str, str]:
    """(source, target, mode) of a short- or long-syntax volume entry."""
    if isinstance(entry, dict):
        return str(entry.get("source", "")), str(entry["target"]), "ro" if entry.get("read_only") else "rw"
    parts = entry.split(":")
    if len(parts) == 1:
        return "", parts[0], "rw"
    return parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"env.example: not KEY=value: {line!r}"
        values[key.strip()] = value.strip()
    return values


def load_script(name: str):
    """A script of docker/app (not a package) as a module; registered, for its dataclasses."""
    module_name = f"docker_app_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, DOCKER / "app" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


# -- compose: services, restart, health ------------------------------------------------------------------
def test_the_services_are_the_platform(services):
    assert set(services) == LONG_RUNNING | ONE_SHOT


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_long_running_services_restart_and_have_a_health_check(services, name):
    service = services[name]
    assert service.get("restart") == "unless-stopped"
    health = service.get("healthcheck") or {}
    assert not health.get("disable"), f"{name}: health check disabled"
    test = health.get("test")
    assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: no health check command"


def test_setup_is_a_one_shot_that_the_others_wait_for(services):
    setup = services["setup"]
    assert setup.get("restart") == "no"
    assert setup["entrypoint"] == ["ccpros-setup"]
    for name in ("asterisk", "agi", "events"):
        assert services[name]["depends_on"]["setup"] == {"condition": "service_completed_successfully"}


def test_depends_on_targets_exist_and_are_waited_for_properly(services):
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs the long form (with a condition)"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown service {target}"
            expected = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert spec.get("condition") == expected, f"{name} -> {target}: condition {spec.get('condition')}"
            assert "healthcheck" in services[target] or target in ONE_SHOT
    assert services["asterisk"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["events"]["depends_on"]["asterisk"]["condition"] == "service_healthy"


def test_no_dependency_cycle(services):
    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join(path + (name,))}"
        for target in services[name].get("depends_on", {}):
            visit(target, path + (name,))

    for name in services:
        visit(name, ())


def test_postgres_health_check_is_pg_isready(services):
    test = services["postgres"]["healthcheck"]["test"]
    assert "pg_isready" in " ".join(test)
    assert services["postgres"]["image"] == "postgres:15"


def test_asterisk_health_check_waits_for_full_boot_of_the_instance(services):
    test = services["asterisk"]["healthcheck"]["test"]
    command = " ".join(test[1:])
    assert "core waitfullybooted" in command and f"-C {INSTANCE.conf}" in command
    # the image's HEALTHCHECK says the same
    image_check = instructions(ASTERISK_DOCKERFILE, "HEALTHCHECK")[0]
    assert image_check.split(" CMD ", 1)[1].strip() == command


@pytest.mark.parametrize("name", ["agi", "events"])
def test_app_services_run_ccpros_serve_with_the_runtime_file(services, name):
    command = services[name]["command"]
    assert command == ["serve", name, "--runtime", RUNTIME_FILE]
    assert exec_form(instructions(APP_DOCKERFILE, "ENTRYPOINT")[0]) == ["ccpros"]
    args = build_parser().parse_args(command)           # the real CLI accepts it
    assert args.service == name and str(args.runtime) == RUNTIME_FILE
    assert services[name]["healthcheck"]["test"] == ["CMD", "ccpros-healthcheck", name]


def test_host_networking_for_asterisk_and_the_apps(services):
    for name in HOST_NETWORK:
        assert services[name].get("network_mode") == "host", name
        assert "ports" not in services[name], f"{name}: ports mean nothing with host networking"
    for mapping in services["postgres"].get("ports", []):
        assert str(mapping).startswith("127.0.0.1:"), f"postgres published beyond loopback: {mapping}"


# -- compose: volumes ---------------------------------------------------------------------------------
def test_named_volumes_are_declared_and_used(compose, services):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for entry in service.get("volumes", []):
            source, target, _ = volume_parts(entry)
            assert target.startswith("/"), f"{name}: volume target {target!r} not absolute"
            if source and not source.startswith((".", "/", "~", "$")):
                assert source in declared, f"{name}: volume {source!r} is not declared"
                used.add(source)
            elif source:
                assert (COMPOSE.parent / source).exists(), f"{name}: bind mount {source} missing"
    assert declared == used, f"declared but unused: {declared - used}"


def mounts(service: dict) -> dict[str, tuple[str, str]]:
    return {target: (source, mode) for source, target, mode in map(volume_parts, service.get("volumes", []))}


def test_persistent_data_and_config_mounts(services):
    assert mounts(services["postgres"])["/var/lib/postgresql/data"][0] == "pgdata"
    asterisk = mounts(services["asterisk"])
    setup = mounts(services["setup"])
    for sub in ("etc", "sounds"):                  # written by setup, read by asterisk: same volume
        path = f"{INSTANCE.dir}/{sub}"
        assert asterisk[path][0] == setup[path][0]
        assert setup[path][1] == "rw"
    for sub, volume in (("db", "asterisk-db"), ("spool", "recordings"), ("log", "asterisk-log")):
        assert asterisk[f"{INSTANCE.dir}/{sub}"][0] == volume
    for name in ("setup", "agi", "events"):
        assert mounts(services[name])["/etc/ccpros/config"] == ("../config", "ro"), name
        assert mounts(services[name])["/run/ccpros"][0] == "runtime", name
    assert mounts(services["setup"])["/var/lib/ccpros/state"][0] == "state"


# -- compose and env.example: secrets -------------------------------------------------------------------
def test_no_secret_literal_in_compose(services):
    for name, service in services.items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"{name}: environment as a mapping, please"
        for key, value in env.items():
            if SECRET_NAME.search(key):
                match = ENV_REFERENCE.fullmatch(str(value))
                assert match, f"{name}: {key} must come from the env file (${{{key}}}), not a literal"
                assert match.group(2) in (None, ":?", "?"), f"{name}: {key} must not have a default value"
    text = COMPOSE.read_text()
    for key, value in env_example().items():
        if SECRET_NAME.search(key):
            assert value not in text.replace(f"{key}", ""), f"compose.yaml contains {key}'s example value"


def test_every_variable_of_compose_is_documented_in_env_example():
    referenced = {m.group(1) for m in ENV_REFERENCE.finditer(COMPOSE.read_text())}
    documented = env_example()
    assert referenced <= set(documented), f"not in env.example: {sorted(referenced - set(documented))}"


def test_env_example_holds_placeholders_only_and_env_is_ignored():
    setup = load_script("ccpros_setup")
    values = env_example()
    for key in setup.SECRET_VARS:
        assert key in values, f"env.example lacks {key}"
    for key, value in values.items():
        if SECRET_NAME.search(key):
            assert value == setup.PLACEHOLDER, f"env.example: {key} must hold the placeholder"
    ignored = (DOCKER / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_setup_refuses_missing_and_placeholder_secrets():
    setup = load_script("ccpros_setup")
    with pytest.raises(setup.SetupError, match="CCPROS_AMI_SECRET is not set"):
        setup.settings_from_env({k: "s3cret" for k in setup.SECRET_VARS if k != "CCPROS_AMI_SECRET"})
    with pytest.raises(setup.SetupError, match="POSTGRES_PASSWORD still holds the placeholder"):
        setup.settings_from_env({k: "s3cret" for k in setup.SECRET_VARS}
                                | {"POSTGRES_PASSWORD": env_example()["POSTGRES_PASSWORD"]})


# -- the Asterisk image ---------------------------------------------------------------------------------
def filtered_packages(shell_pipeline: str) -> list[str]:
    out = subprocess.run(["sh", "-c", shell_pipeline], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_asterisk_image_installs_exactly_the_package_list_of_the_local_install():
    steps = dockerfile(ASTERISK_DOCKERFILE)
    assert steps[0] == ("FROM", "debian:sid")
    copies = [args.split() for instr, args in steps if instr == "COPY" and "asterisk/packages.txt" in args]
    assert len(copies) == 1 and copies[0][0] == "asterisk/packages.txt", copies
    dest = copies[0][-1]
    installs = [args for instr, args in steps if instr == "RUN" and "apt-get install" in args]
    assert len(installs) == 1, "one apt-get install, fed by packages.txt only"
    # the pipeline that feeds apt-get: `grep ... <dest> | xargs ... apt-get install ...`
    match = re.search(r"(grep [^|&;]*?" + re.escape(dest) + r")\s*\|\s*xargs[^|&;]*apt-get install[^|&;]*",
                      installs[0])
    assert match, f"the install does not read {dest}: {installs[0]}"
    words = shlex.split(match.group(0).split("apt-get install", 1)[1])
    assert all(w.startswith("-") for w in words), f"packages named in the Dockerfile: {words}"
    image = filtered_packages(match.group(1).replace(dest, shlex.quote(str(PACKAGES))))
    # the local install's filter, taken from install.sh itself
    local_filter = re.search(r"packages=\$\((grep [^|]*)\|", INSTALL_SH.read_text()).group(1)
    local = filtered_packages(local_filter.replace('"$here/packages.txt"', shlex.quote(str(PACKAGES))))
    listed = [line.split()[0] for line in PACKAGES.read_text().splitlines()
              if line.strip() and not line.strip().startswith("#")]
    assert image == local == listed and "asterisk" in image


def test_asterisk_image_french_sounds_and_command():
    runs = " ".join(instructions(ASTERISK_DOCKERFILE, "RUN"))
    assert 'ln -s fr_CA_f_June "$sounds/fr"' in runs and "sounds=/usr/share/asterisk/sounds" in runs
    assert 'ln -s fr_CA_f_June "$sounds/fr"' in INSTALL_SH.read_text()       # the same link as locally
    cmd = exec_form(instructions(ASTERISK_DOCKERFILE, "CMD")[0])
    assert cmd == ["asterisk", "-f", "-U", "asterisk", "-G", "asterisk", "-C", INSTANCE.conf]
    entrypoint = exec_form(instructions(ASTERISK_DOCKERFILE, "ENTRYPOINT")[0])
    copied = [args.split() for args in instructions(ASTERISK_DOCKERFILE, "COPY")]
    assert any(c[-1] == entrypoint[0] and "docker/asterisk/entrypoint.sh" in c for c in copied)


def test_asterisk_entrypoint_is_valid_shell_and_execs_the_command():
    script = DOCKER / "asterisk" / "entrypoint.sh"
    subprocess.run(["sh", "-n", str(script)], check=True)
    text = script.read_text()
    assert text.rstrip().endswith('exec "$@"')
    assert f"{INSTANCE.dir}" in text
    assert stat.S_IMODE(script.stat().st_mode) & 0o111


def test_the_setup_writes_where_asterisk_reads():
    setup = load_script("ccpros_setup")
    assert setup.INSTANCE_DIR == INSTANCE.dir
    app_runs = " ".join(instructions(APP_DOCKERFILE, "RUN"))
    asterisk_runs = " ".join(instructions(ASTERISK_DOCKERFILE, "RUN"))
    # the uid that writes etc/ and sounds/ (ccpros-app) is the one the asterisk side hands them to
    uid = re.search(r"useradd [^&]*--uid (\d+)", app_runs).group(1)
    assert f"chown {uid}:asterisk" in asterisk_runs
    assert f"app_uid=${{CCPROS_APP_UID:-{uid}}}" in (DOCKER / "asterisk" / "entrypoint.sh").read_text()


# -- the app image ------------------------------------------------------------------------------------
def test_app_image_installs_the_project_as_a_non_root_user():
    steps = dockerfile(APP_DOCKERFILE)
    assert steps[0] == ("FROM", "python:3.11-slim")
    copied = {}
    for args in instructions(APP_DOCKERFILE, "COPY"):
        *sources, dest = [w for w in args.split() if not w.startswith("--")]
        for source in sources:
            copied[source] = dest
    for needed in ("pyproject.toml", "setup.cfg", "README.md", "ccpros_agi"):
        assert needed in copied, f"{needed} not copied into the image"
    runs = instructions(APP_DOCKERFILE, "RUN")
    assert any(re.search(r"pip install\b[^&]*\s\.(\s|$)", r) for r in runs), "no `pip install .`"
    users = instructions(APP_DOCKERFILE, "USER")
    assert users and users[-1] not in ("root", "0"), "the services must not run as root"
    assert "ccpros" in (ROOT / "setup.cfg").read_text().split("console_scripts", 1)[1].split("\n")[1]


def test_app_image_ships_the_files_the_code_finds_beside_the_package():
    """instance.py and migrate.py find asterisk/etc, dialplan/ and alembic.ini relative to the package:
    the image copies them to WORKDIR and imports the package from there (PYTHONPATH)."""
    workdir = instructions(APP_DOCKERFILE, "WORKDIR")[0]
    env = " ".join(instructions(APP_DOCKERFILE, "ENV"))
    assert f"PYTHONPATH={workdir}" in env
    project = pbx_instance.PROJECT_DIR
    needed = [pbx_instance.STATIC_DIR, pbx_instance.DIALPLAN_DIR, migrate.ALEMBIC_INI, ROOT / "migrations"]
    copies = [args.split() for args in instructions(APP_DOCKERFILE, "COPY")]
    ignore = (DOCKER / "app" / "Dockerfile.dockerignore").read_text().split()
    for path in needed:
        rel = path.relative_to(project).as_posix()
        assert path.exists(), path
        assert [rel, f"./{rel}"] in [c[-2:] for c in copies] or [rel, "./"] in [c[-2:] for c in copies], \
            f"{rel} is not copied to {workdir}/{rel}"
        assert f"!{rel}" in ignore or f"!{rel}/" in ignore, f"{rel} excluded by Dockerfile.dockerignore"


def test_app_image_ships_the_setup_and_health_scripts():
    copies = [args.split() for args in instructions(APP_DOCKERFILE, "COPY")]
    ignore = (DOCKER / "app" / "Dockerfile.dockerignore").read_text().split()
    for script, command in (("ccpros_setup.py", "ccpros-setup"), ("ccpros_healthcheck.py", "ccpros-healthcheck")):
        assert [f"docker/app/{script}", f"/usr/local/bin/{command}"] in [c[-2:] for c in copies]
        assert f"!docker/app/{script}" in ignore
        assert (DOCKER / "app" / script).read_text().startswith("#!/usr/bin/env python3\n")


# -- the setup script renders the platform's Asterisk config ---------------------------------------------
@pytest.fixture
def rendered(tmp_path, monkeypatch):
    setup = load_script("ccpros_setup")
    env = {k: f"test-{k.lower()}" for k in setup.SECRET_VARS} | {
        "CCPROS_CONFIG": str(ROOT / "config"), "CCPROS_STATE_DIR": str(tmp_path / "state"),
        "CCPROS_RUNTIME": str(tmp_path / "run" / "runtime.json"), "CCPROS_WRITE_ROOT": str(tmp_path / "root"),
        "CCPROS_SIP_BIND": "192.0.2.10",
    }
    settings = setup.settings_from_env(env)
    setup.setup(settings, database=False, prompts=False)
    return settings, tmp_path / "root" / INSTANCE.dir.lstrip("/") / "etc"


def test_setup_renders_the_asterisk_config_of_the_instance(rendered):
    settings, etc = rendered
    names = {p.name for p in etc.iterdir()}
    static = {p.name for p in pbx_instance.STATIC_DIR.glob("*.conf")}
    dialplan = {f"dialplan_{p.name}" for p in pbx_instance.DIALPLAN_DIR.glob("*.conf")}
    generated = {"pjsip_generated.conf", "queues_generated.conf", "extensions_generated.conf", "queuerules.conf"}
    assert names == static | dialplan | generated
    assert f"astetcdir => {INSTANCE.dir}/etc" in (etc / "asterisk.conf").read_text()
    assert "bind = 192.0.2.10:5060" in (etc / "pjsip.conf").read_text()
    assert "password = test-ccpros_cel_password" in (etc / "cel_pgsql.conf").read_text()
    for path in etc.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
        assert "{{" not in path.read_text(), f"{path.name}: unfilled template"


def test_setup_writes_a_private_runtime_file_for_the_services(rendered):
    settings, _ = rendered
    runtime = json.loads(settings.runtime_file.read_text())
    assert stat.S_IMODE(settings.runtime_file.stat().st_mode) == 0o600
    assert runtime["sounds_dir"] == f"{INSTANCE.dir}/sounds"
    assert runtime["database_url"] == "postgresql+psycopg://ccpros:test-ccpros_db_password@127.0.0.1:5432/ccpros"
    assert (runtime["agi_port"], runtime["ami_port"], runtime["web_port"]) == (4573, 5038, 8080)
    assert runtime["config_dir"] == str(ROOT / "config")


def test_sip_bind_reaches_the_pjsip_transport():
    from ccpros_agi.pbx.instance import InstanceSettings, static_files

    settings = InstanceSettings(
        sip_port=5060, ami_port=1, http_port=2, agi_port=3, rtp_start=10000, rtp_end=10999, ami_user="a",
        ami_secret="b", ari_user="c", ari_password="d", db_host="h", db_port=5432, db_name="n", db_user="u",
        db_password="p", general_queue="q-conseiller", sip_bind="192.0.2.10")
    assert "bind = 192.0.2.10:5060\n" in static_files(settings, "/x")["pjsip.conf"]


# -- the health check of the services ---------------------------------------------------------------
def write_runtime(tmp_path: Path, **ports: int) -> Path:
    path = tmp_path / "runtime.json"
    path.write_text(json.dumps({"host": "127.0.0.1", "agi_port": 1, "web_port": 1, **ports}))
    return path


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_agi_health_check_sees_the_listening_socket_without_connecting(tmp_path):
    health = load_script("ccpros_healthcheck")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        ok, detail = health.check("agi", write_runtime(tmp_path, agi_port=port))
        assert ok, detail
        assert f"pid {os.getpid()}" in detail
    finally:
        server.close()
    ok, detail = health.check("agi", write_runtime(tmp_path, agi_port=port))
    assert not ok and "nothing listens" in detail


@pytest.mark.parametrize("body, code, healthy", [({"ok": True}, 200, True), ({"ok": False, "ami": False}, 503, False)])
def test_events_health_check_reads_status(tmp_path, body, code, healthy):
    health = load_script("ccpros_healthcheck")

    class Status(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            payload = json.dumps(body).encode()
            self.send_response(code if self.path == "/status" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ok, _ = health.check("events", write_runtime(tmp_path, web_port=server.server_port))
        assert ok is healthy
    finally:
        server.shutdown()
        server.server_close()
    assert health.check("events", tmp_path / "missing.json")[0] is False


# -- docker compose itself, where the plugin is installed ------------------------------------------------
def compose_plugin() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    return probe.returncode == 0


@pytest.mark.skipif(not compose_plugin(), reason="the docker compose plugin is not installed")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE), "config", "-q"],
        capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
