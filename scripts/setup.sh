#!/usr/bin/env bash
# Installs what cdrate needs to build and test, from Debian's packages, if it is missing.
# Idempotent: does nothing (and needs no network) when everything is installed.
set -euo pipefail

PKGS=(build-essential cmake ninja-build pkg-config clang-format tzdata
      librdkafka-dev liblmdb-dev libzstd-dev libhiredis-dev libcriterion-dev libyaml-dev
      redis-server redis-tools # the tests' Redis (scripts/redis: redis-server, redis-cli)
      clang libclang-rt-dev # clang + its runtimes (libFuzzer, sanitizers): `make fuzz`
      libsodium-dev # SHA-256 of the statement exports' manifests; the portal's Argon2id passwords
      libmicrohttpd-dev # the portal's HTTP server (cdrate serve, docs/portal.md)
      wrk # load for `cdrate bench serve`
      chromium chromium-driver python3-selenium # statements' HTML and the portal in a real browser
      fonts-wqy-microhei) # a CJK font, so that zh-CN screenshots show the characters

# The real Kafka broker of the tests runs on Java, its jars fetched by Maven (scripts/kafka): any
# installed Java 11+ and Maven will do, so these are asked for only when the commands are missing.
command -v java >/dev/null 2>&1 || PKGS+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || PKGS+=(maven)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
