#!/usr/bin/env bash
# provision/bench/deploy-baseline.sh — the deploy benchmark's by-hand baseline: what a person
# who knows Linux and Dask would type to get the local provider's cluster, with none of
# this project's machinery (no Terraform, no stages, no checks, no supervisor).
#
#   deploy-baseline.sh NODES WHEELHOUSE_DIR PYTHON_X.Y [WORK_DIR]
#
# Makes NODES network namespaces on a bridge (in a namespace of its own, as the local
# provider does), one venv per node from the wheelhouse (pip from the wheelhouse, offline,
# hash-checked, the same flags as cluster-runtime/install.sh; the nodes in parallel), a CA
# and one certificate, a TLS scheduler on node 1 and a TLS worker (with its nanny) on every
# node bound to the node's private IP, waits until every worker is registered, then
# removes all of it. Linux, root. Prints one JSON object on stdout (seconds):
#   {"nodes":N,"namespaces":..,"venvs":..,"services":..,"total":..,"teardown":..}
# and progress on stderr. Exit codes: 0 measured; 2 bad arguments; 1 a step failed (what
# it made is removed all the same).
set -euo pipefail
usage="usage: deploy-baseline.sh NODES WHEELHOUSE_DIR PYTHON_X.Y [WORK_DIR] (e.g. deploy-baseline.sh 3 /tmp/bundle 3.11)"
[[ $# -ge 3 && $# -le 4 ]] || { echo "$usage" >&2; exit 2; }
N=$1
BUNDLE=$2
PY=python$3
[[ $N =~ ^[0-9]+$ && $N -ge 1 && $N -le 16 ]] || { echo "deploy-baseline.sh: NODES must be 1 to 16, got '$N'" >&2; exit 2; }
[[ -f $BUNDLE/requirements.lock && -d $BUNDLE/wheelhouse ]] || { echo "deploy-baseline.sh: $BUNDLE has no requirements.lock and wheelhouse/: give an extracted runtime bundle" >&2; exit 2; }
command -v "$PY" >/dev/null || { echo "deploy-baseline.sh: $PY is not installed" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "deploy-baseline.sh: needs root (ip netns)" >&2; exit 2; }
WORK=${4:-$(mktemp -d /tmp/dvc-baseline-XXXXXX)}
mkdir -p "$WORK"
TAG=dvcb$$
NET=$TAG-net
SUBNET=192.168.56
PORT=8786

say() { printf '[baseline] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

teardown() {
  # Every process started in the cluster's namespaces, then the namespaces and files.
  for ns in $(ip netns list | awk '{print $1}' | grep "^$TAG-" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  done
  for _ in $(seq 50); do
    alive=0
    for ns in $(ip netns list | awk '{print $1}' | grep "^$TAG-" || true); do [[ -n $(ip netns pids "$ns" 2>/dev/null) ]] && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  for ns in $(ip netns list | awk '{print $1}' | grep "^$TAG-" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  done
  rm -rf "$WORK"
}
trap 'teardown' EXIT

t0=$(now)
say "$N namespaces on a bridge"
ip netns add "$NET"
ip -n "$NET" link add br0 type bridge
ip -n "$NET" link set br0 up
for i in $(seq "$N"); do
  ns=$TAG-n$i
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "$TAG-$i" netns "$NET" type veth peer name eth1 netns "$ns"
  ip -n "$NET" link set "$TAG-$i" master br0 up
  ip -n "$ns" addr add "$SUBNET.$((10 + i))/24" dev eth1
  ip -n "$ns" link set eth1 up
done
namespaces=$(since "$t0")

t1=$(now)
say "$N venvs from the wheelhouse, in parallel"
pip_wheel=$(ls "$BUNDLE"/wheelhouse/pip-*.whl)
pids=()
for i in $(seq "$N"); do
  (
    "$PY" -m venv --without-pip "$WORK/n$i/venv"
    PIP_CONFIG_FILE=/dev/null "$WORK/n$i/venv/bin/python" "$pip_wheel/pip" install --isolated --no-index \
      --find-links "$BUNDLE/wheelhouse" --require-hashes --only-binary=:all: --no-deps --no-compile \
      --disable-pip-version-check --no-warn-script-location --quiet -r "$BUNDLE/requirements.lock"
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
venvs=$(since "$t1")

t2=$(now)
say "TLS material, a scheduler and $N workers"
tls=$WORK/tls
mkdir -p "$tls"
sans=IP:127.0.0.1
for i in $(seq "$N"); do sans+=",IP:$SUBNET.$((10 + i))"; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=baseline-ca \
  -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=baseline -keyout "$tls/node.key" -out "$tls/node.csr" 2>/dev/null
openssl x509 -req -in "$tls/node.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
  -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans") -out "$tls/node.pem" 2>/dev/null
export DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION=True
tlsargs=(--tls-ca-file "$tls/ca.pem" --tls-cert "$tls/node.pem" --tls-key "$tls/node.key")
head=$SUBNET.11
ip netns exec "$TAG-n1" setsid "$WORK/n1/venv/bin/python" -m dask scheduler --host "$head" --port $PORT --protocol tls \
  --dashboard-address "$head:8787" "${tlsargs[@]}" >"$WORK/scheduler.log" 2>&1 </dev/null &
for i in $(seq "$N"); do
  ip="$SUBNET.$((10 + i))"
  ip netns exec "$TAG-n$i" setsid "$WORK/n$i/venv/bin/python" -m dask worker "tls://$head:$PORT" --name "node$i" --host "$ip" \
    --protocol tls --nthreads 1 --memory-limit 1536MiB --local-directory "$WORK/n$i/work" "${tlsargs[@]}" \
    >"$WORK/worker$i.log" 2>&1 </dev/null &
done
ip netns exec "$TAG-n1" "$WORK/n1/venv/bin/python" - "$head" "$N" "$tls" <<'PY' >&2
import sys
from distributed import Client
from distributed.security import Security
head, n, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sec = Security(tls_ca_file=f"{tls}/ca.pem", tls_client_cert=f"{tls}/node.pem", tls_client_key=f"{tls}/node.key", require_encryption=True)
with Client(f"tls://{head}:8786", security=sec, timeout="60s") as c:
    c.wait_for_workers(n, timeout=120)
    print(f"[baseline] {len(c.scheduler_info()['workers'])} workers registered", file=sys.stderr)
PY
services=$(since "$t2")
total=$(since "$t0")

t3=$(now)
say "removing it all"
teardown
trap - EXIT
teardown_s=$(since "$t3")
printf '{"nodes":%d,"namespaces":%s,"venvs":%s,"services":%s,"total":%s,"teardown":%s}\n' "$N" "$namespaces" "$venvs" "$services" "$total" "$teardown_s"
