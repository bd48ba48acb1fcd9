"""bench/scale (issue 6's scale targets): a CI smoke run.

`bench/scale --quick --no-build` with the binaries under test (RUNNEL_BIN,
RNL_BIN): 200 partitions, 200 connections, a few thousand records, one
repetition — seconds. CI checks that the script runs end to end and that its
JSON holds every figure, never how fast anything is (docs/perf-scale.md).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import REPO, RNL_BIN, RUNNEL_BIN

SCRIPT = REPO / "bench" / "scale"

FIGURES = [
    "partitions", "create_s", "create_answer_s", "idle_rss_kb", "idle_hwm_kb",
    "fds_per_partition", "broker_nofile",
    "produce_1p_msgs_per_s", "produce_rr_msgs_per_s", "produce_ratio",
    "restart_term_stop_s", "restart_term_s", "restart_kill_s",
    "variant_create_s", "variant_topics",
    "connections", "conn_rss_before_kb", "conn_rss_held_kb", "conn_extra_kb", "conn_served_s",
    "conn_rss_closed_kb",
]


def test_bench_scale_quick(tmp_path):
    for b in (RUNNEL_BIN, RNL_BIN):
        if not os.access(b, os.X_OK):
            pytest.fail(f"{b} missing: build with `make` (or set RUNNEL_BIN / RNL_BIN)")
    out = tmp_path / "scale.json"
    cp = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--no-build", "--json", str(out),
                         "--workdir", str(tmp_path), "--runnel", RUNNEL_BIN, "--rnl", RNL_BIN],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    text = cp.stdout.decode(errors="replace") + cp.stderr.decode(errors="replace")
    assert cp.returncode == 0, text[-3000:]
    doc = json.loads(out.read_text())
    assert doc["quick"] is True and doc["errors"] == [], doc["errors"]
    F = doc["figures"]
    missing = [k for k in FIGURES if F.get(k) is None]
    assert not missing, f"figures missing: {missing}"
    assert F["partitions"] == doc["sizes"]["partitions"] == 200
    assert F["connections"] == doc["sizes"]["connections"] == 200
    assert F["fds_per_partition"] > 0 and F["idle_rss_kb"] > 0
    assert len(doc["targets"]) == 6
    assert all(t["met"] in (True, False) for t in doc["targets"]), doc["targets"]
    assert "target" in doc["table"] and "verdict" in doc["table"]
    # Every broker was stopped and its data dir removed.
    assert not list(Path(tmp_path).glob("runnel-scale-*/runnel-scale-*"))
