"""SIP peers for the integration tests: SIPp callers on the trunk and SIPp advisors' phones."""
from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS = Path(__file__).parent / "scenarios"
DTMF_PCAPS = Path("/usr/share/sip-tester")
TRUNK_IP = "127.0.0.2"      # the trunk's own loopback address (config/platform.yaml: trunk.match)
ADVISOR_IP = "127.0.0.1"


def free_udp_port(ip: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if not path:
        raise RuntimeError("sipp not found: apt-get install sip-tester")
    return path


@dataclass
class SippResult:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Sipp:
    """One SIPp process. ``run()`` waits for it; ``start()``/``wait()`` run it in the background."""

    def __init__(self, sip_port: int, scenario: Path, *, ip: str, service: str, workdir: Path,
                 keys: dict[str, str] | None = None, auth: tuple[str, str] | None = None,
                 server: bool = False, calls: int | None = 1, timeout_s: int = 60, port: int | None = None,
                 extra: list[str] | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_udp_port(ip)
        cmd = [sipp_binary(), "-sf", str(scenario), "-i", ip, "-p", str(self.port),
               "-mp", str(free_udp_port(ip)), "-s", service, "-nostdin",
               "-trace_err", "-error_file", str(workdir / f"sipp-{self.port}-errors.log"),
               "-timeout", f"{timeout_s}s", "-timeout_error", "-max_recv_loops", "1000"]
        if calls is not None:
            cmd += ["-m", str(calls)]
        for key, value in (keys or {}).items():
            cmd += ["-key", key, str(value)]
        if auth:
            cmd += ["-au", auth[0], "-ap", auth[1]]
        cmd += extra or []
        if not server:
            cmd.append(f"127.0.0.1:{sip_port}")
        self.cmd = cmd
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> "Sipp":
        self.out = open(self.workdir / f"sipp-{self.port}.out", "w+")
        self.proc = subprocess.Popen(self.cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, cwd=self.workdir)
        return self

    def wait(self, timeout: float = 90) -> SippResult:
        assert self.proc
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self._result()

    def run(self, timeout: float = 90) -> SippResult:
        return self.start().wait(timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _result(self) -> SippResult:
        assert self.proc
        self.out.flush()
        self.out.seek(0)
        text = self.out.read()[-4000:]
        errors = self.workdir / f"sipp-{self.port}-errors.log"
        if errors.exists():
            text += "\n--- errors ---\n" + errors.read_text()[-4000:]
        self.out.close()
        return SippResult(self.proc.returncode, text)


def _pcap_name(key: str) -> str:
    return "dtmf_2833_" + {"*": "star", "#": "pound"}.get(key, key) + ".pcap"


def sequenced_dtmf_pcaps(keys: list[str], directory: Path) -> list[Path]:
    """Copies of SIPp's DTMF recordings whose RTP sequence numbers and timestamps increase from one key
    to the next: SIPp replays the recordings as they are, one SSRC for all, and Asterisk drops an
    RFC 4733 event older than the last one it saw (a "1" after a "5" would be lost)."""
    out = []
    for index, key in enumerate(keys):
        data = bytearray((DTMF_PCAPS / _pcap_name(key)).read_bytes())
        offset, packet = 24, 0
        while offset < len(data):
            length = struct.unpack_from("<I", data, offset + 8)[0]
            start = offset + 16
            struct.pack_into(">H", data, start + 40, 0)                       # UDP checksum: none
            struct.pack_into(">HI", data, start + 44, 20000 + index * 100 + packet, 200000 + index * 20000)
            offset, packet = start + length, packet + 1
        path = directory / f"dtmf-{index}-{_pcap_name(key)}"
        path.write_bytes(bytes(data))
        out.append(path)
    return out


def caller_scenario(caller: str, *, dtmf: str | None, dtmf_after_ms: int, hangup_after_ms: int | None,
                    expect_bye: bool, display: str = "", more_keys: tuple[tuple[str, int], ...] = (),
                    pcap_dir: Path | None = None) -> str:
    """A business calling through the trunk: answer, maybe a DTMF key (RFC 4733) and more keys
    (``more_keys``: (key, milliseconds before it); their recordings are written to ``pcap_dir``), then
    either hang up after ``hangup_after_ms`` or wait for Asterisk to hang up (``expect_bye``)."""
    dtmf_part = ""
    keys = (((dtmf, dtmf_after_ms),) if dtmf is not None else ()) + tuple(more_keys)
    if more_keys and pcap_dir is not None:
        pcaps = sequenced_dtmf_pcaps([key for key, _ in keys], pcap_dir)
    else:
        pcaps = [DTMF_PCAPS / _pcap_name(key) for key, _ in keys]
    for (_, after_ms), pcap in zip(keys, pcaps):
        dtmf_part += (f'<pause milliseconds="{after_ms}"/>\n'
                      f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n')
    if expect_bye:
        end = """<recv request="BYE" timeout="60000"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>"""
    else:
        end = f"""<pause milliseconds="{hangup_after_ms}"/>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]>;tag=[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="200" crlf="true"/>"""
    name = f'"{display}" ' if display else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<scenario name="caller">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: {name}<sip:{caller}@[local_ip]>;tag=[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]>;tag=[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  {dtmf_part}
  {end}
</scenario>
"""


@dataclass
class Caller:
    """Builds and runs one call from the trunk."""

    sip_port: int
    workdir: Path

    def sipp(self, called: str, caller: str = "+33639980001", *, dtmf: str | None = None,
             dtmf_after_ms: int = 1500, hangup_after_ms: int | None = 6000, expect_bye: bool = False,
             timeout_s: int = 60, display: str = "", more_keys: tuple[tuple[str, int], ...] = ()) -> Sipp:
        xml = caller_scenario(caller, dtmf=dtmf, dtmf_after_ms=dtmf_after_ms,
                              hangup_after_ms=hangup_after_ms, expect_bye=expect_bye, display=display,
                              more_keys=more_keys, pcap_dir=Path(tempfile.mkdtemp(dir=self.workdir, prefix="dtmf-")))
        fd, path = tempfile.mkstemp(suffix=".xml", dir=self.workdir, prefix="caller-")
        Path(path).write_text(xml)
        return Sipp(self.sip_port, Path(path), ip=TRUNK_IP, service=called, workdir=self.workdir,
                    timeout_s=timeout_s)


@dataclass
class AdvisorPhone:
    """An advisor's softphone: registered, answering every call after ``answer_ms``."""

    advisor_id: str
    password: str
    sip_port: int
    workdir: Path
    answer_ms: int = 300
    scenario: str = "advisor_uas.xml"
    keys: dict[str, str] = field(default_factory=dict)   # [name] in the scenario -> value
    uas: Sipp | None = field(default=None, init=False)

    @property
    def messages_file(self) -> Path:
        return self.workdir / f"advisor-{self.advisor_id}-messages.log"

    def start(self) -> "AdvisorPhone":
        # SIPp does not substitute keywords in <pause>: bake the values into a copy
        text = (SCENARIOS / self.scenario).read_text().replace("[answer_ms]", str(self.answer_ms))
        for key, value in self.keys.items():
            text = text.replace(f"[{key}]", value)
        scenario = self.workdir / f"advisor-{self.advisor_id}.xml"
        scenario.write_text(text)
        self.uas = Sipp(self.sip_port, scenario, ip=ADVISOR_IP, service=self.advisor_id,
                        workdir=self.workdir, server=True, calls=None, timeout_s=3600,
                        extra=["-trace_msg", "-message_file", str(self.messages_file)]).start()
        self.register(3600)
        return self

    def offered_from(self) -> list[str]:
        """The From header of every call offered to this phone (what its display shows)."""
        if not self.messages_file.exists():
            return []
        lines = self.messages_file.read_text(errors="replace").splitlines()
        out, in_invite = [], False
        for line in lines:
            if line.startswith("INVITE sip:"):
                in_invite = True
            elif in_invite and line.lower().startswith("from:"):
                out.append(line)
                in_invite = False
        return out

    def register(self, expires: int) -> None:
        assert self.uas
        result = Sipp(self.sip_port, SCENARIOS / "register.xml", ip=ADVISOR_IP, service=self.advisor_id,
                      workdir=self.workdir, auth=(self.advisor_id, self.password),
                      keys={"contact_port": str(self.uas.port), "expires": str(expires)}).run(30)
        if not result.ok:
            raise RuntimeError(f"REGISTER of {self.advisor_id} failed:\n{result.output}")

    def dial_feature(self, code: str) -> SippResult:
        """Dial a feature code: Asterisk answers, plays its confirmation and hangs up."""
        return self.dial(code, "feature_code.xml")

    def dial(self, number: str, scenario: str = "advisor_call.xml") -> SippResult:
        """Call ``number`` from this phone (answered calls are hung up after a second)."""
        return Sipp(self.sip_port, SCENARIOS / scenario, ip=ADVISOR_IP, service=self.advisor_id,
                    workdir=self.workdir, auth=(self.advisor_id, self.password),
                    keys={"code": number, "user": self.advisor_id}).run(30)

    def login(self) -> None:
        result = self.dial_feature("*21")
        if not result.ok:
            raise RuntimeError(f"login of {self.advisor_id} failed:\n{result.output}")

    def logout(self) -> None:
        self.dial_feature("*22")

    def stop(self) -> None:
        try:
            self.logout()
            self.register(0)
        finally:
            if self.uas:
                self.uas.stop()


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    """Poll until ``predicate()`` returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
