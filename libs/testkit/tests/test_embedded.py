import subprocess
import sys
import textwrap
import time

import psutil
import pytest

pytestmark = pytest.mark.integration


def test_embedded_servers_die_with_the_process_that_started_them(tmp_path):
    script = textwrap.dedent(
        """
        import sys, time
        from figsync_testkit.embedded import EmbeddedNats, EmbeddedPostgres
        pg = EmbeddedPostgres().start(); nats = EmbeddedNats().start()
        print(pg.process.pid, nats.process.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert all(psutil.pid_exists(pid) for pid in pids)
    parent.kill()  # no cleanup code runs: only the kernel's parent-death signal
    parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def test_embedded_postgres_restarts_on_the_same_port_with_its_data():
    from figsync_testkit.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres().start()
    try:
        port = pg.port
        subprocess.run([pg._bin("psql"), pg.url, "-c", "CREATE TABLE kept (x int)"], check=True,
                       capture_output=True)  # fmt: skip
        pg.kill()
        pg.start()
        assert pg.port == port
        out = subprocess.run([pg._bin("psql"), pg.url, "-Atc", "SELECT count(*) FROM kept"],
                             check=True, capture_output=True, text=True)  # fmt: skip
        assert out.stdout.strip() == "0"
    finally:
        pg.close()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
