"""bench/compare (issue 6's side-by-side comparison): a --quick smoke run,
so the script cannot rot. It checks that every step ran and produced its
figures, that the summary and the target verdicts are there, and that the
table was printed — never how fast anything is (CI does not judge speed).

bench/compare runs the release build (build/runnel, build/rnl) against
Redis, iperf3, dd and the librdkafka mock; the test skips when the
release build is missing (scripts/test.sh builds it first) and fails when
a peer tool is missing (scripts/install-deps.sh --test installs them).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import scaled

REPO = Path(__file__).resolve().parents[2]
STEPS = ["limits/iperf3", "limits/iperf3-file", "limits/dd", "limits/fsync4k",
         "produce100/runnel", "produce100/mock", "produce100/redis",
         "produce1k/runnel", "produce1k/mock", "produce1k/redis",
         "consume1k/runnel", "consume1k/mock", "e2e/runnel", "e2e/mock"]


def test_compare_quick_runs_every_step(tmp_path):
    for b in ("runnel", "rnl"):
        if not os.access(REPO / "build" / b, os.X_OK):
            pytest.skip(f"build/{b} missing (make)")
    for tool in ("redis-server", "redis-benchmark", "iperf3"):
        assert shutil.which(tool), f"{tool} missing: scripts/install-deps.sh --test installs it"
    out = tmp_path / "compare.json"
    cp = subprocess.run([str(REPO / "bench" / "compare"), "--quick", "--no-install", "--no-build",
                         "--e2e-seconds", "2", "--workdir", str(tmp_path), "--json", str(out)],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(300))
    text = cp.stdout.decode()
    assert cp.returncode == 0, text[-3000:] + cp.stderr.decode()[-3000:]
    doc = json.loads(out.read_text())
    for step in STEPS:
        runs = doc["runs"][step]
        assert len(runs) == 1 and "error" not in runs[0], (step, runs)
    e2e = doc["runs"]["e2e/runnel"][0]
    assert e2e["lost"] == 0 and e2e["failed"] == 0 and e2e["messages"] == e2e["sent"] > 0
    assert doc["runs"]["limits/iperf3-file"][0]["cpu_s_per_gb"] > 0
    for key in ("rn_p100", "rn_p1k", "rn_cw", "iperf", "dd", "tofile_gb", "rn_p1k_gb",
                "rn_e2e_p99"):
        assert doc["summary"][key] is not None, key
    verdicts = {t["target"]: t["verdict"] for t in doc["targets"]}
    assert any(k.startswith("produce 100 B >= 0.8x mock") for k in verdicts)
    assert all(v for v in verdicts.values())
    for heading in ("workload", "machine limits", "issue 6 targets", "loopback TCP into a file"):
        assert heading in text, heading
    # Its data dir is removed and no server it started outlives it.
    assert not list(tmp_path.glob("runnel-compare-*"))
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], stdout=subprocess.PIPE)
    assert left.stdout == b"", left.stdout
