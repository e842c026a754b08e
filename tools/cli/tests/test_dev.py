"""`figsync dev` starts everything, says where it listens, and Ctrl-C stops it all."""

import json
import os
import signal
import subprocess
import sys
import time

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
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIGSYNC_")}
    env.update({variable: str(free_port()) for variable in PORT_VARIABLES})
    log = open(tmp_path / "dev.log", "w+")
    dev = subprocess.Popen(
        [sys.executable, "-m", "figsync_cli.main", "dev"], env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "figsync is running" not in (tmp_path / "dev.log").read_text():
            assert dev.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "dev did not come up"
            time.sleep(0.3)
        output = (tmp_path / "dev.log").read_text()
        ingest = f"http://127.0.0.1:{env['FIGSYNC_INGEST_PORT']}"
        for line in (f"ingest: {ingest}", "dashboard: http://127.0.0.1:",
                     "sandbox figma: http://127.0.0.1:", "sandbox notion: ",
                     "sandbox anthropic: ", "postgres: postgresql://", "nats: nats://"):  # fmt: skip
            assert line in output, line
        assert httpx.get(f"{ingest}/readyz").status_code == 200
        # The one-line command dev prints: the real fixture email becomes a task and a reply.
        command = next(line.strip() for line in output.splitlines() if "figsync send-email" in line)
        argv = command.split()[1:]
        sent = subprocess.run([sys.executable, "-m", "figsync_cli.main", *argv],
                              capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
        assert sent.returncode == 0, sent.stderr + sent.stdout
        job = json.loads(sent.stdout.splitlines()[0])["job_id"]
        dashboard = f"http://127.0.0.1:{env['FIGSYNC_PROJECTOR_PORT']}"
        token = next(line for line in output.splitlines() if "FIGSYNC_API_TOKEN=" in line)
        env["FIGSYNC_API_TOKEN"] = token.split("FIGSYNC_API_TOKEN=")[1].split()[0]
        deadline = time.monotonic() + 60
        status = ""
        while "[completed]" not in status and time.monotonic() < deadline:
            time.sleep(0.5)
            status = subprocess.run(
                [sys.executable, "-m", "figsync_cli.main", "status", job, "--api", dashboard],
                capture_output=True, text=True, timeout=60, env=env,
            ).stdout  # fmt: skip
        assert "[completed]" in status, status + (tmp_path / "dev.log").read_text()[-4000:]
        assert "ConfirmationPosted" in status or "confirmation" in status.lower()
        # The reply is in the sandbox's Figma thread, and the task in its Notion.
        figma = f"http://127.0.0.1:{env['FIGSYNC_SANDBOX_FIGMA_PORT']}"
        posts = httpx.get(f"{figma}/_sandbox/requests", params={"method": "POST"}).json()
        replies = [r for r in posts["requests"] if r["path"].endswith("/comments")]
        assert len(replies) == 1 and replies[0]["status"] == 200, replies
        notion = f"http://127.0.0.1:{env['FIGSYNC_SANDBOX_NOTION_PORT']}"
        pages = httpx.get(f"{notion}/_sandbox/requests", params={"method": "POST"}).json()
        assert [r["status"] for r in pages["requests"] if r["path"] == "/v1/pages"] == [200]
        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) >= 9  # postgres, nats, sandbox, relay and six services
    finally:
        dev.send_signal(signal.SIGINT)
        code = dev.wait(60)
    assert code == 0
    assert "dev: stopped" in (tmp_path / "dev.log").read_text()
    time.sleep(0.5)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


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
