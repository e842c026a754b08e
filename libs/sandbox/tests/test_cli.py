"""`python -m figsync_sandbox` prints where each server listens and stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx

from figsync_sandbox.servers import SandboxConfig


def test_cli_serves_prints_urls_and_stops_on_sigterm():
    env = dict(os.environ, FIGSYNC_SANDBOX_FIGMA_PORT="0", FIGSYNC_SANDBOX_SEED="3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "figsync_sandbox", "--notion-port", "0", "--anthropic-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        urls = {}
        for line in lines:
            match = re.fullmatch(
                r"sandbox (figma|notion|anthropic): (http://127\.0\.0\.1:\d+)", line
            )
            assert match, lines
            urls[match.group(1)] = match.group(2)
        assert set(urls) == {"figma", "notion", "anthropic"}
        for name, url in urls.items():
            assert httpx.get(f"{url}/_sandbox/health").json() == {"ok": True, "server": name}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_a_bad_port_setting():
    env = dict(os.environ, FIGSYNC_SANDBOX_FIGMA_PORT="eighty")
    result = subprocess.run(
        [sys.executable, "-m", "figsync_sandbox"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "sandbox.bad_env: FIGSYNC_SANDBOX_FIGMA_PORT='eighty'" in result.stderr


def test_config_layers_defaults_env_and_arguments():
    env = {"FIGSYNC_SANDBOX_NOTION_PORT": "8702", "FIGSYNC_SANDBOX_NOTION_RATE_PER_SECOND": "1.5"}
    config = SandboxConfig.from_env(env, notion_port=9000)
    assert config.notion_port == 9000 and config.notion_rate_per_second == 1.5
    assert SandboxConfig.from_env({}).figma_port == 0
