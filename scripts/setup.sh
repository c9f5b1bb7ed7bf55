#!/usr/bin/env bash
# Installs what electrode needs to build and test on a fresh Debian machine that has only node and
# npm: system packages from Debian (when missing) and the npm dependencies (Bun comes from npm).
# --with-etcd also installs Debian's etcd-server (/usr/bin/etcd), which only scripts/vs-etcd.ts
# uses (npm run vs-etcd): the tests and CI do not need it.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v clang >/dev/null || need+=(clang)
command -v llvm-strip >/dev/null || need+=(llvm)
[ -e /usr/include/bpf/libbpf.h ] || need+=(libbpf-dev)
[ -e /usr/lib/x86_64-linux-gnu/libbpf.so.1 ] || need+=(libbpf1)
command -v bpftool >/dev/null || need+=(bpftool)
command -v iptables >/dev/null || need+=(iptables)
command -v ethtool >/dev/null || need+=(ethtool)
for arg in "$@"; do
  case "$arg" in
    --with-etcd) [ -x /usr/bin/etcd ] || need+=(etcd-server) ;;
    *) echo "setup: unknown option $arg (known: --with-etcd)" >&2; exit 2 ;;
  esac
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
# bun's npm package ships the binary; make sure it runs (its postinstall may be skipped).
node_modules/.bin/bun --version >/dev/null
echo "setup: ok (bun $(node_modules/.bin/bun --version))"
