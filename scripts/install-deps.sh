#!/usr/bin/env bash
# Installs the Debian packages runnel needs, only those missing.
#   scripts/install-deps.sh          what building and running the broker needs
#   scripts/install-deps.sh --test   plus everything the test suite uses
# Runs apt-get as root (or through sudo). Also installs the pinned npm
# packages of the KafkaJS tests with --test.
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(build-essential pkg-config python3 zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev libssl-dev librdkafka-dev)
test_pkgs=(kcat python3-kafka python3-confluent-kafka python3-pytest clang libclang-rt-14-dev procps iproute2
	python3-snappy python3-lz4 python3-zstandard redis-server redis-tools iperf3)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
	want+=("${test_pkgs[@]}")
	# Node may come from another packaging of nodejs that bundles npm (a
	# Debian npm package would then conflict): ask for the commands.
	command -v node >/dev/null || want+=(nodejs)
	command -v npm >/dev/null || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--test" ] && [ -f tests/integration/node/package.json ]; then
	if [ ! -d tests/integration/node/node_modules/kafkajs ]; then
		(cd tests/integration/node && npm ci --no-audit --no-fund --loglevel=error)
	fi
fi
