// The write-up's broken cluster, made on purpose (npm run lab -- nat-trap) and taken back.
// On a VirtualBox VM the NAT adapter gives every machine the same address, 10.0.2.15; a
// worker that advertises it is registered, gets tasks, but nobody else can fetch its
// results: 10.0.2.15 leads every machine to itself. The lab gives each node that address
// where it has none (the local provider's namespaces, libvirt's VMs: on `lo`, reachable
// from the node only, as a NAT address is) and starts its worker listening everywhere but
// advertising 10.0.2.15. A marker in ROOT/run says what the lab added, so that whoever takes
// it back (the lab's end, an interrupt, or the next deploy's worker stage) removes that
// and nothing else.
import { nodePaths } from "../core/node-paths.js";
import { shq, type Transport } from "../machines/transport.js";
import type { ServiceDefinition } from "./definitions.js";

export const NAT_ADDRESS = "10.0.2.15";
/** The port each node's trapped worker listens on and advertises: 40000 + its number. */
export const TRAP_PORT_BASE = 40_000;

function marker(t: Transport): string {
  return `${nodePaths(t.root).run}/nat-trap`;
}

/** sudo -n when the transport's user is not root (VMs: the vagrant user). */
const asRoot = `if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi`;

/** Gives the node 10.0.2.15 when it has none; records what was done. */
export async function addNatAddress(t: Transport): Promise<"added" | "present"> {
  const r = await t.run(
    `as_root() { ${asRoot}; }
mkdir -p ${shq(nodePaths(t.root).run)}
if ip -o -4 addr show | grep -q ' ${NAT_ADDRESS}/'; then
  [ -f ${shq(marker(t))} ] || echo present > ${shq(marker(t))}
else
  as_root ip addr add ${NAT_ADDRESS}/32 dev lo && echo added > ${shq(marker(t))}
fi
cat ${shq(marker(t))}`,
    { timeoutMs: 30_000 },
  );
  return r.stdout.trim() === "added" ? "added" : "present";
}

/** Takes back what addNatAddress did on the node; whether there was anything to take back. */
export async function removeNatAddress(t: Transport): Promise<boolean> {
  const r = await t.run(
    `as_root() { ${asRoot}; }
[ -f ${shq(marker(t))} ] || exit 0
if [ "$(cat ${shq(marker(t))})" = added ]; then as_root ip addr del ${NAT_ADDRESS}/32 dev lo 2>/dev/null || true; fi
rm -f ${shq(marker(t))}
echo removed`,
    { nothrow: true, timeoutMs: 30_000 },
  );
  return r.stdout.includes("removed");
}

/**
 * The worker's definition, trapped: listening on every interface at a port of its own,
 * advertising 10.0.2.15 at that port (what `dask worker` does when the first address it
 * finds is the NAT adapter's). Dask refuses --host with --listen-address, so --host and
 * --worker-port go; the nanny then picks its own address.
 */
export function trappedWorker(def: ServiceDefinition, nodeNumber: number): ServiceDefinition {
  const argv = [...def.argv];
  const proto = argv[argv.indexOf("--protocol") + 1] ?? "tcp";
  for (const flag of ["--host", "--worker-port", "--protocol"]) {
    const i = argv.indexOf(flag);
    if (i >= 0) argv.splice(i, 2);
  }
  const port = TRAP_PORT_BASE + nodeNumber;
  argv.push("--listen-address", `${proto}://0.0.0.0:${port}`, "--contact-address", `${proto}://${NAT_ADDRESS}:${port}`);
  return { ...def, argv };
}
