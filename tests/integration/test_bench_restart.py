"""bench/restart --quick: a smoke run of the restart benchmark, so that the
script cannot rot. CI checks that it runs end to end with a tiny log (a few
seconds) on the binaries under test (RUNNEL_BIN / RNL_BIN, see harness.py),
that its --json has every figure for every kind of restart, and that no
acknowledged record was lost across a SIGKILL — never how fast anything is.
"""

import json
import os
import subprocess
import sys

import pytest

from harness import REPO, RNL_BIN, RUNNEL_BIN, TIMEOUT_SCALE

SCRIPT = REPO / "bench" / "restart"
KINDS = ("kill", "kill-cold", "clean")
PHASES = ("listen_s", "metadata_s", "produce_s", "ready_s")


@pytest.fixture(scope="module", autouse=True)
def _built():
    for b in (RUNNEL_BIN, RNL_BIN):
        if not os.access(b, os.X_OK):
            pytest.fail(f"{b} missing: build it with `make` (or set RUNNEL_BIN / RNL_BIN)")


def test_quick_run(tmp_path):
    out = tmp_path / "restart.json"
    env = dict(os.environ, RUNNEL_BIN=str(RUNNEL_BIN), RNL_BIN=str(RNL_BIN))
    cp = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--no-build", "--gb", "0.05",
                         "--json", str(out), "--workdir", str(tmp_path)],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                        timeout=240 * TIMEOUT_SCALE)
    assert cp.returncode == 0, cp.stderr.decode()[-2000:]
    r = json.loads(out.read_text())
    assert r["fill"]["records"] > 0 and r["fill"]["mb_per_s"] > 0
    for kind in KINDS:
        runs = r["results"][kind]
        assert len(runs) == 1, runs
        run = runs[0]
        assert "error" not in run, run
        # The phases happen in order, each measured from the exec.
        times = [run[p] for p in PHASES]
        assert 0 < times[0] and times == sorted(times), run
        log = run["broker_log"]
        assert log["exec_to_started_ms"] > 0
        for k in ("scanned_bytes", "scan_ms", "partitions_scanned", "truncations"):
            assert log[k] >= 0, log
        # No acknowledged record lost: each partition's high watermark is
        # above its last acknowledged offset and that record reads back.
        chk = run["check"]
        assert chk["ok"], chk
        assert len(chk["last_acked"]) == r["partitions"]
        for p, off in chk["last_acked"].items():
            assert chk["high_watermarks"][p] > off
        s = r["summary"][kind]
        assert s["all_acked_present"] and s["failed"] == 0
        assert s["ready_s"] == run["ready_s"]
    # After SIGKILL the broker scanned (recovered) something; after a clean
    # stop it scanned nothing.
    assert r["results"]["kill"][0]["broker_log"]["partitions_scanned"] > 0
    assert r["results"]["clean"][0]["broker_log"]["scanned_bytes"] == 0
    # The data dir is removed at the end (no --keep).
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("runnel-restart-")]
