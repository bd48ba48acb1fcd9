"""librdkafka from C (c/rdk_roundtrip.c): acks=all producer with delivery
reports, then an assign() consumer reading everything back byte for byte,
once per compression codec. The checks live in the C program; this file
compiles it, runs it against the real broker and checks its exit status and
summary line."""

import shutil

import pytest

from harness import HERE, run

SRC = HERE / "c" / "rdk_roundtrip.c"
COUNT = 10_000
PARTITIONS = 3


@pytest.fixture(scope="module")
def rdk_roundtrip(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler (cc) on PATH")
    out = tmp_path_factory.mktemp("c") / "rdk_roundtrip"
    run([cc, "-std=c17", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-o", str(out), str(SRC),
         "-lrdkafka"], timeout=120)
    return str(out)


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_roundtrip(module_broker, rdk_roundtrip, topic_name, codec):
    topic = topic_name(codec)
    module_broker.create_topic(topic, partitions=PARTITIONS)
    cp = run([rdk_roundtrip, module_broker.bootstrap, topic, str(PARTITIONS), str(COUNT), codec],
             timeout=150, check=False)
    out, err = cp.stdout.decode(), cp.stderr.decode("utf-8", "replace")
    assert cp.returncode == 0, f"rdk_roundtrip exited {cp.returncode}\n{err[-4000:]}"
    assert out.splitlines() == [
        f"rdk_roundtrip: OK codec={codec} partitions={PARTITIONS} "
        f"produced={COUNT} delivered={COUNT} consumed={COUNT}"], out + err[-2000:]
