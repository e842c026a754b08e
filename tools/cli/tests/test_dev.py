"""`figsync dev` starts everything, says where it listens, and Ctrl-C stops it all."""

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
        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) >= 9  # postgres, nats, sandbox, relay and six services
    finally:
        dev.send_signal(signal.SIGINT)
        code = dev.wait(60)
    assert code == 0
    assert "dev: stopped" in (tmp_path / "dev.log").read_text()
    time.sleep(0.5)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
