"""`figsync dev` starts everything, says where it listens, and Ctrl-C stops it all."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from figsync_testkit.embedded import free_port

pytestmark = pytest.mark.e2e

PORT_VARIABLES = [
    "FIGSYNC_RELAY_PORT", "FIGSYNC_INGEST_PORT", "FIGSYNC_FIGMA_PORT",
    "FIGSYNC_SUMMARIZER_PORT", "FIGSYNC_NOTION_PORT", "FIGSYNC_NOTIFIER_PORT",
    "FIGSYNC_PROJECTOR_PORT", "FIGSYNC_SANDBOX_FIGMA_PORT", "FIGSYNC_SANDBOX_NOTION_PORT",
    "FIGSYNC_SANDBOX_ANTHROPIC_PORT",
]  # fmt: skip


def test_dev_runs_the_whole_system_and_ctrl_c_stops_everything(tmp_path):
    env = _dev_env(_free_ports(PORT_VARIABLES))
    with _running_dev(env, tmp_path) as (dev, output):
        ingest = f"http://127.0.0.1:{env['FIGSYNC_INGEST_PORT']}"
        for line in (f"ingest: {ingest}", "dashboard: http://127.0.0.1:",
                     "sandbox figma: http://127.0.0.1:", "sandbox notion: ",
                     "sandbox anthropic: ", "postgres: postgresql://", "nats: nats://"):  # fmt: skip
            assert line in output, line
        assert not re.search(r"^ *\w+#\d", output, re.MULTILINE) and "replicas:" not in output
        assert httpx.get(f"{ingest}/readyz").status_code == 200
        _the_fixture_email_completes(env, output, tmp_path)
        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) >= 9  # postgres, nats, sandbox, relay and six services
    _all_stopped(dev, children, tmp_path)


REPLICATED = {"relay": "figsync_runtime.relay_main", "figma": "figsync_figma.main",
              "summarizer": "figsync_summarizer.main", "notion": "figsync_notion.main",
              "notifier": "figsync_notifier.main"}  # fmt: skip


def test_dev_replicas_runs_two_of_each_consumer_and_two_relays(tmp_path):
    # Replica 2 listens on its service's port + 100: those must be free too.
    env = _dev_env(_free_ports(PORT_VARIABLES, replica_offset=100))
    env["FIGSYNC_DEV_REPLICAS"] = "2"
    with _running_dev(env, tmp_path) as (dev, output):
        urls = []
        for name in REPLICATED:
            port = int(env[f"FIGSYNC_{name.upper()}_PORT"])
            for shown, url in ((name, f"http://127.0.0.1:{port}"),
                               (f"{name}#2", f"http://127.0.0.1:{port + 100}")):  # fmt: skip
                assert f"  {shown}: {url}\n" in output, shown
                assert re.search(rf"^{shown} +\| ", output, re.MULTILINE), f"no {shown} logs"
                urls.append(url)
            assert f"{name}#3" not in output
        assert "ingest#2" not in output and "projector#2" not in output
        for url in urls:
            assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200, url
        children = psutil.Process(dev.pid).children(recursive=True)
        for name, module in {**REPLICATED, "ingest": "figsync_ingest.main",
                             "projector": "figsync_projector.main"}.items():  # fmt: skip
            running = [c for c in children if module in " ".join(_cmdline(c))]
            assert len(running) == (1 if name in ("ingest", "projector") else 2), name
        _the_fixture_email_completes(env, output, tmp_path)
    _all_stopped(dev, children, tmp_path)


def _free_ports(variables: list[str], replica_offset: int = 0) -> dict[str, str]:
    """A distinct free port for each variable (and, with `replica_offset`, the port that far
    above it, where dev puts the variable's second replica)."""
    ports: dict[str, str] = {}
    taken: set[int] = set()
    for variable in variables:
        port = free_port()
        wanted = {port, port + replica_offset}
        while wanted & taken or not all(_is_free(p) for p in wanted):
            port = free_port()
            wanted = {port, port + replica_offset}
        taken |= wanted
        ports[variable] = str(port)
    return ports


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except (OSError, OverflowError):
            return False
    return True


def _dev_env(ports: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIGSYNC_")}
    return {**env, **ports}


@contextlib.contextmanager
def _running_dev(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """`figsync dev` up and printing where it listens; Ctrl-C (SIGINT) on the way out."""
    log = open(tmp_path / "dev.log", "w+")
    dev = subprocess.Popen(
        [sys.executable, "-m", "figsync_cli.main", "dev"], env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while "figsync is running" not in (tmp_path / "dev.log").read_text():
            assert dev.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dev did not come up"
            time.sleep(0.3)
        # The whole summary: everything up to the send-email command's blank line after it.
        deadline = time.monotonic() + 10
        while "--api http" not in (output := (tmp_path / "dev.log").read_text()):
            assert time.monotonic() < deadline, output[-3000:]
            time.sleep(0.1)
        yield dev, output
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(90)
        finally:
            log.close()


def _the_fixture_email_completes(env: dict[str, str], output: str, tmp_path: Path) -> None:
    """The one-line command dev prints: the real fixture email becomes a task and a reply."""
    env = dict(env)
    command = next(line.strip() for line in output.splitlines() if "figsync send-email" in line)
    argv = command.split()[1:]
    sent = subprocess.run([sys.executable, "-m", "figsync_cli.main", *argv],
                          capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert sent.returncode == 0, sent.stderr + sent.stdout
    job = json.loads(sent.stdout.splitlines()[0])["job_id"]
    dashboard = f"http://127.0.0.1:{env['FIGSYNC_PROJECTOR_PORT']}"
    token = next(line for line in output.splitlines() if "FIGSYNC_API_TOKEN=" in line)
    env["FIGSYNC_API_TOKEN"] = token.split("FIGSYNC_API_TOKEN=")[1].split()[0]
    deadline = time.monotonic() + 90
    status = ""
    while "[completed]" not in status and time.monotonic() < deadline:
        time.sleep(0.5)
        status = subprocess.run(
            [sys.executable, "-m", "figsync_cli.main", "status", job, "--api", dashboard],
            capture_output=True, text=True, timeout=60, env=env,
        ).stdout  # fmt: skip
    assert "[completed]" in status, status + (tmp_path / "dev.log").read_text()[-4000:]
    assert "ConfirmationPosted" in status or "confirmation" in status.lower()
    # The reply is in the sandbox's Figma thread, and the task in its Notion: once each.
    figma = f"http://127.0.0.1:{env['FIGSYNC_SANDBOX_FIGMA_PORT']}"
    posts = httpx.get(f"{figma}/_sandbox/requests", params={"method": "POST"}).json()
    replies = [r for r in posts["requests"] if r["path"].endswith("/comments")]
    assert len(replies) == 1 and replies[0]["status"] == 200, replies
    notion = f"http://127.0.0.1:{env['FIGSYNC_SANDBOX_NOTION_PORT']}"
    pages = httpx.get(f"{notion}/_sandbox/requests", params={"method": "POST"}).json()
    assert [r["status"] for r in pages["requests"] if r["path"] == "/v1/pages"] == [200]


def _all_stopped(dev: subprocess.Popen, children: list[psutil.Process], tmp_path: Path) -> None:
    assert dev.returncode == 0, (tmp_path / "dev.log").read_text()[-3000:]
    assert "dev: stopped" in (tmp_path / "dev.log").read_text()
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not [c for c in alive if _status(c) not in ("gone", psutil.STATUS_ZOMBIE)], alive


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _status(process: psutil.Process) -> str:
    try:
        return process.status()
    except psutil.NoSuchProcess:
        return "gone"


@pytest.mark.unit
def test_a_port_left_in_time_wait_by_a_previous_run_is_free_for_dev():
    import socket

    from figsync_cli.dev import _port

    port = free_port()
    # A previous run served traffic and closed first: its side of the connection sits in
    # TIME_WAIT for up to a minute, although nothing listens any more.
    server = socket.create_server(("127.0.0.1", port))
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()
    client.recv(1)
    client.close()
    server.close()
    states = subprocess.run(["ss", "-tan", f"sport = :{port}"], capture_output=True, text=True)
    if states.returncode == 0:
        assert "TIME-WAIT" in states.stdout, states.stdout

    assert _port({"FIGSYNC_INGEST_PORT": str(port)}, "FIGSYNC_INGEST_PORT", 8000) == port
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(SystemExit, match="dev.port_in_use"):
            _port({"FIGSYNC_INGEST_PORT": str(port)}, "FIGSYNC_INGEST_PORT", 8000)


@pytest.mark.unit
@pytest.mark.parametrize("value", ["0", "abc", "50", "-1", "2.5"])
def test_a_bad_replica_count_stops_dev_before_anything_starts(value):
    from figsync_cli.dev import _replicas

    with pytest.raises(SystemExit, match=r"^dev\.bad_replicas: FIGSYNC_DEV_REPLICAS=.* from 1 to"):
        _replicas({"FIGSYNC_DEV_REPLICAS": value})
    # Checked first: the real command exits at once, before any Postgres, NATS or service.
    env = {**os.environ, "FIGSYNC_DEV_REPLICAS": value}
    dev = subprocess.run([sys.executable, "-m", "figsync_cli.main", "dev"], env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert dev.returncode == 1
    assert "dev.bad_replicas" in dev.stderr + dev.stdout
    assert "postgres:" not in dev.stdout and "nats:" not in dev.stdout


@pytest.mark.unit
def test_dev_replicas_default_to_one_of_each_and_at_most_two_relays():
    from figsync_cli.dev import _instances, _replicas

    assert _replicas({}) == _replicas({"FIGSYNC_DEV_REPLICAS": ""}) == 1
    single = [[i.name for i in group] for group in _instances(1)]
    assert single == [["relay"], ["ingest"], ["figma"], ["summarizer"], ["notion"],
                      ["notifier"], ["projector"]]  # fmt: skip
    three = {group[0].name: group for group in _instances(_replicas({"FIGSYNC_DEV_REPLICAS": "3"}))}
    assert [i.name for i in three["relay"]] == ["relay", "relay#2"]
    assert [(i.name, i.offset) for i in three["figma"]] == [
        ("figma", 0),
        ("figma#2", 100),
        ("figma#3", 200),
    ]
    assert len(three["ingest"]) == len(three["projector"]) == 1
