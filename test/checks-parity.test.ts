// Doctor and the deploy's preflight stage cannot disagree: the same scripted hosts fed to
// `npm run doctor`'s checks and to the preflight stage (as Terraform runs it, through
// runStage with the spec the stack synthesizes), for all three providers. Doctor says
// "not ready" exactly when preflight refuses (exit 2), and for the same checks.
import { describe, expect, it } from "vitest";
import { runChecks } from "../provision/commands/doctor.js";
import { verdictOf } from "../provision/core/check-rows.js";
import { resolveCluster } from "../provision/config/resolve.js";
import type { ProviderName } from "../provision/core/config-schema.js";
import { UserError } from "../provision/core/errors.js";
import { runStage } from "../provision/stages/index.js";
import { memoryLog } from "./helpers/fake-cluster.js";
import { fakeHost, recorded, type FakeHostOptions, type Script } from "./helpers/fake-host.js";
import { stackSpecs } from "./helpers/stack-specs.js";

const CPU = { "/proc/cpuinfo": "flags\t\t: fpu vmx sse4_2\n" };
/** A Linux host with everything every provider needs, and Terraform for doctor's own rows. */
const COMPLETE: Record<string, Script> = {
  "terraform version -json": JSON.stringify({ terraform_version: "1.9.8" }),
  "vagrant --version": "Vagrant 2.4.3\n",
  "vagrant plugin list": "vagrant-libvirt (0.11.2, system)\n",
  "VBoxManage --version": recorded("vbox-7.0-version.txt"),
  "VBoxManage list hostonlyifs": "",
  "virsh --connect qemu:///system version": "Compiled against library: libvirt 9.0.0\n",
  "virsh --connect qemu:///system net-dumpxml": { exitCode: 1, stderr: "error: Network not found" },
  "qemu-system-x86_64 --version": "QEMU emulator version 7.2.0\n",
  "qemu-img --version": "qemu-img version 7.2.0\n",
  "ip -j route": JSON.stringify([
    { dst: "default", dev: "eth0" },
    { dst: "10.0.2.0/24", dev: "eth0" },
  ]),
  "ip -V": "ip utility, iproute2-6.1.0\n",
  "python3.11 -c": "3.11.9\n",
};

interface Scenario {
  readonly name: string;
  readonly host: FakeHostOptions;
  readonly config?: object;
}

const SCENARIOS: readonly Scenario[] = [
  { name: "a complete Linux host", host: {} },
  { name: "no root", host: { uid: 1000 } },
  { name: "no Vagrant", host: { commands: { "vagrant --version": { missing: true, exitCode: 127 } } } },
  {
    name: "a Vagrant too old for VirtualBox 7.1",
    host: { commands: { "vagrant --version": "Vagrant 2.3.4\n", "VBoxManage --version": "7.1.4r165100\n" } },
  },
  {
    name: "VirtualBox's kernel module not loaded",
    host: { commands: { "VBoxManage --version": recorded("vbox-7.0-version-vboxdrv-not-loaded.txt") } },
  },
  { name: "a subnet outside VirtualBox's range", host: {}, config: { network: { subnet: "10.10.0.0/24" } } },
  {
    name: "a clashing route",
    host: { commands: { "ip -j route": JSON.stringify([{ dst: "192.168.56.0/24", dev: "wlan0" }]) } },
  },
  { name: "no VT-x", host: { files: { "/proc/cpuinfo": "flags\t\t: fpu sse2\n" } } },
  {
    name: "no libvirt daemon",
    host: {
      commands: {
        "virsh --connect qemu:///system version": { exitCode: 1, stderr: "error: failed to connect to the hypervisor" },
      },
    },
  },
  { name: "no python3.11", host: { commands: { "python3.11 -c": { missing: true, exitCode: 127 } } } },
  { name: "too little memory", host: { totalGiB: 4, freeGiB: 3 } },
  { name: "too little disk", host: { freeDiskGiB: 1 } },
  { name: "a Windows laptop", host: { platform: "win32", uid: undefined, commands: { "route print -4": "" } } },
  {
    name: "an Apple Silicon Mac",
    host: {
      platform: "darwin",
      arch: "arm64",
      commands: { "netstat -rn -f inet": "", "sysctl -n kern.hv_support": "1\n" },
    },
  },
  {
    name: "a Windows laptop with a non-ASCII profile and Windows' hypervisor on",
    host: {
      platform: "win32",
      uid: undefined,
      env: { HOME: "C:\\Users\\Zoë", USERPROFILE: "C:\\Users\\Zoë", DVC_CACHE_DIR: "/nonexistent" },
      commands: {
        "route print -4": "",
        "ssh -V": { stderr: recorded("openssh-for-windows-8.1-version.stderr.txt") },
        "powershell.exe -NoProfile -NonInteractive -Command": "True\r\n",
      },
    },
  },
  {
    name: "an Intel Mac after a VirtualBox 7 deploy (its host-only network on bridge100)",
    host: {
      platform: "darwin",
      commands: {
        "VBoxManage list hostonlynets": recorded("vbox-7.0-macos-list-hostonlynets.txt"),
        "netstat -rn -f inet": recorded("macos-netstat-rn-vbox7-hostonlynet.txt"),
        "sysctl -n kern.hv_support": "1\n",
        vm_stat: recorded("macos-intel-32g-vm_stat.txt"),
      },
    },
  },
  {
    name: "an 8 GB laptop (7.7 GiB) with its default sizes",
    host: { totalGiB: 7.7, freeGiB: 3.5 },
    config: { nodes: { memoryMb: 1024 } },
  },
];

const PROVIDERS: readonly ProviderName[] = ["virtualbox", "libvirt", "local"];
/**
 * Doctor's own rows: without Node and a Terraform CLI no deploy starts, so preflight has none of them; the cache's size
 * is information.
 */
const DOCTOR_ONLY = new Set(["node", "terraform", "terraform providers", "cache"]);

describe("doctor and preflight give the same verdict on the same hosts", () => {
  for (const provider of PROVIDERS) {
    it.each(SCENARIOS)(`${provider}: %s`, async (s) => {
      const host = () =>
        fakeHost({
          uid: 0,
          kvm: true,
          env: { HOME: "/home/u", DVC_CACHE_DIR: "/nonexistent" },
          ...s.host,
          files: { ...CPU, ...s.host.files },
          commands: { ...COMPLETE, ...s.host.commands },
        });
      const cluster = resolveCluster({ provider, ...s.config }, "/home/u/Cours Dask é/dvc");
      const rows = (await runChecks(cluster, { provider, online: false }, host())).filter(
        (r) => !DOCTOR_ONLY.has(r.check),
      );
      const doctorFails = rows.filter((r) => r.status === "fail").map((r) => `${r.path ?? r.check}: ${r.found}`);

      const spec = stackSpecs(cluster).get("preflight")!.spec;
      const outcome = await runStage("apply", JSON.stringify(spec), "", host(), memoryLog()).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (verdictOf(rows) === "not ready") {
        expect(outcome, `doctor: ${doctorFails.join("; ")}`).toBeInstanceOf(UserError);
        expect((outcome as UserError).exitCode).toBe(2);
        expect((outcome as UserError).problems.map((p) => `${p.path}: ${p.message}`)).toEqual(doctorFails);
      } else {
        expect(outcome, String(outcome)).toBeUndefined();
      }
    });
  }

  it("the scenarios cover both verdicts for every provider", async () => {
    for (const provider of PROVIDERS) {
      const verdicts = new Set<string>();
      for (const s of SCENARIOS) {
        const cluster = resolveCluster({ provider, ...s.config }, "/home/u/dvc");
        const h = fakeHost({
          uid: 0,
          kvm: true,
          env: { HOME: "/home/u", DVC_CACHE_DIR: "/nonexistent" },
          ...s.host,
          files: { ...CPU, ...s.host.files },
          commands: { ...COMPLETE, ...s.host.commands },
        });
        verdicts.add(
          verdictOf(
            (await runChecks(cluster, { provider, online: false }, h)).filter((r) => !DOCTOR_ONLY.has(r.check)),
          ) === "not ready"
            ? "refused"
            : "ready",
        );
      }
      expect([...verdicts].sort(), provider).toEqual(["ready", "refused"]);
    }
  });
});
