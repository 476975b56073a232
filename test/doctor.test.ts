// npm run doctor (provision/commands/doctor.ts) on hosts this machine is not (no or an old
// VirtualBox, a subnet VirtualBox refuses, a clashing route, no root, a Mac, Windows),
// scripted with test/helpers/fake-host.ts. The real doctor on this host is
// test/doctor.local.test.ts; that doctor and preflight agree, test/checks-parity.test.ts.
import { describe, expect, it } from "vitest";
import { renderTable, runChecks, verdictLine } from "../provision/commands/doctor.js";
import type { CheckRow } from "../provision/core/check-rows.js";
import { resolveCluster } from "../provision/config/resolve.js";
import { fakeHost, type FakeHostOptions, type Script } from "./helpers/fake-host.js";

/** A Linux x86_64 host with VT-x, Node 26, Terraform 1.9, Vagrant 2.4.1 and VirtualBox 7.0, unless told otherwise. */
function host(o: FakeHostOptions = {}) {
  const commands: Record<string, Script> = {
    "terraform version -json": JSON.stringify({ terraform_version: "1.9.8" }),
    "vagrant --version": "Vagrant 2.4.1\n",
    "VBoxManage --version": "7.0.14r161095\n",
    "VBoxManage list hostonlyifs": "",
    "ip -j route": JSON.stringify([
      { dst: "default", gateway: "10.0.2.2", dev: "eth0" },
      { dst: "10.0.2.0/24", dev: "eth0", protocol: "kernel" },
    ]),
    "ip -V": "ip utility, iproute2-6.1.0\n",
    "python3.11 -c": "3.11.9\n",
    ...o.commands,
  };
  return fakeHost({
    totalGiB: 32,
    freeGiB: 24,
    ...o,
    files: { "/proc/cpuinfo": "processor\t: 0\nflags\t\t: fpu vme sse2 vmx ssse3\n", ...o.files },
    commands,
  });
}

const cluster = (config: object = {}) => resolveCluster({ provider: "virtualbox", ...config }, "/home/u/dvc");

function rowOf(rows: readonly CheckRow[], check: string): CheckRow {
  const r = rows.find((x) => x.check === check);
  if (!r) throw new Error(`no row "${check}" in: ${rows.map((x) => x.check).join(", ")}`);
  return r;
}

const run = (h: ReturnType<typeof host>, config: object = {}, online = false) =>
  runChecks(cluster(config), { provider: cluster(config).config.provider, online }, h);

describe("doctor on scripted hosts", () => {
  it("a complete VirtualBox host is ready, and every row has its found value", async () => {
    // An empty cache, not this machine's (the real one warns past 2 GB, which other suites' runs reach).
    const rows = await run(host({ env: { HOME: "/home/u", PATH: "/usr/bin", DVC_CACHE_DIR: "/nonexistent" } }));
    expect(rows.map((r) => [r.check, r.status])).toEqual([
      ["node", "ok"],
      ["terraform", "ok"],
      ["terraform providers", "ok"],
      ["vagrant", "ok"],
      ["virtualbox", "ok"],
      ["vagrant for virtualbox", "ok"],
      ["node architecture", "ok"],
      ["box", "ok"],
      ["subnet allowed", "ok"],
      ["host-only adapter", "ok"],
      ["subnet free", "ok"],
      ["virtualization", "ok"],
      ["disk for VMs", "ok"],
      ["disk for boxes", "ok"],
      ["memory", "ok"],
      ["disk", "ok"],
      ["cache", "ok"],
    ]);
    expect(rowOf(rows, "virtualbox").found).toBe("7.0.14r161095");
    // The VMs' disks are measured where VirtualBox puts them (disk for VMs); the project folder holds logs and bundles.
    expect(rowOf(rows, "disk").found).toBe("100.0 GiB free at /home/u/dvc (need 3 nodes × 1 GiB = 3.0 GiB)");
    expect(rowOf(rows, "disk for VMs").found).toBe(
      "100.0 GiB free at /home/u/VirtualBox VMs (need 3 nodes × 3 GiB + 2 GiB for the box's master VM = 11.0 GiB, VirtualBox's default machine folder)",
    );
    expect(rowOf(rows, "disk for boxes").found).toBe(
      "100.0 GiB free at /home/u/.vagrant.d (need 2.0 GiB for the box, Vagrant's home)",
    );
    expect(verdictLine("virtualbox", rows)).toBe("ready for virtualbox: all 17 checks ok");
  });

  it("missing VirtualBox is a failed row, not a crash, and the other checks still run", async () => {
    const rows = await run(host({ commands: { "VBoxManage --version": { missing: true, exitCode: 127 } } }));
    expect(rowOf(rows, "virtualbox")).toMatchObject({ status: "fail", found: "not found" });
    expect(rowOf(rows, "subnet allowed").status).toBe("ok");
    expect(verdictLine("virtualbox", rows)).toMatch(/^NOT READY for virtualbox: 1 failure \(virtualbox\)/);
  });

  it("checks Vagrant against the VirtualBox installed, as the deploy's preflight does", async () => {
    const rows = await run(
      host({ commands: { "vagrant --version": "Vagrant 2.3.4\n", "VBoxManage --version": "7.1.4r165100\n" } }),
    );
    expect(rowOf(rows, "vagrant for virtualbox")).toMatchObject({
      status: "fail",
      found: "Vagrant 2.3.4 cannot drive VirtualBox 7.1.4",
    });
  });

  it("on Windows finds VBoxManage through VBOX_MSI_INSTALL_PATH, reads routes with route print, and has no range rule", async () => {
    const exe = "C:\\Program Files\\Oracle\\VirtualBox\\VBoxManage.exe";
    const h = host({
      platform: "win32",
      env: { VBOX_MSI_INSTALL_PATH: "C:\\Program Files\\Oracle\\VirtualBox\\" },
      commands: {
        "vagrant --version": "Vagrant 2.4.3\n",
        [`${exe} --version`]: "7.1.4r165100\r\n",
        [`${exe} list hostonlyifs`]: "",
        "route print -4": "",
      },
    });
    const rows = await run(h, { network: { subnet: "10.10.0.0/24" } });
    expect(rowOf(rows, "virtualbox")).toMatchObject({ status: "ok", found: "7.1.4r165100" });
    expect(rowOf(rows, "subnet allowed").status).toBe("ok");
    expect(h.argvs()).toContainEqual(["route", "print", "-4"]);
    expect(rowOf(rows, "virtualization").status).toBe("warn");
  });

  it("a subnet outside VirtualBox's range fails on Linux with both ways out", async () => {
    const row = rowOf(await run(host(), { network: { subnet: "10.10.0.0/24" } }), "subnet allowed");
    expect(row.status).toBe("fail");
    expect(row.fix).toContain("echo '* 10.10.0.0/24' | sudo tee -a /etc/vbox/networks.conf");
    expect(
      (
        await run(host({ kvm: true, commands: { "vagrant plugin list": "vagrant-libvirt (0.11.2, system)\n" } }), {
          provider: "libvirt",
          network: { subnet: "10.10.0.0/24" },
        })
      ).some((r) => r.check === "subnet allowed"),
    ).toBe(false);
  });

  it("a host route over the subnet fails naming the route and interface, and suggests a free subnet", async () => {
    const routes = [
      { dst: "default", dev: "wlan0" },
      { dst: "192.168.56.0/24", dev: "vboxnet3", protocol: "kernel" },
      { dst: "192.168.57.0/24", dev: "docker0" },
    ];
    const row = rowOf(await run(host({ commands: { "ip -j route": JSON.stringify(routes) } })), "subnet free");
    expect(row.status).toBe("fail");
    expect(row.found).toContain("the host route 192.168.56.0/24 on vboxnet3");
    expect(row.fix).toContain("(e.g. 192.168.58.0/24)");
  });

  it("the local provider as a normal user fails the root check with how to run it, and asks no VM tool", async () => {
    const h = host({ uid: 1000 });
    const rows = await run(h, { provider: "local" });
    expect(rows.map((r) => r.check)).toEqual([
      "node",
      "terraform",
      "terraform providers",
      "root",
      "iproute2",
      "python3.11",
      "memory",
      "disk",
      "cache",
    ]);
    expect(rowOf(rows, "root").fix).toContain("sudo -E");
    expect(h.argvs().some((a) => a[0] === "vagrant" || a[0] === "VBoxManage")).toBe(false);
    expect(rowOf(await run(host({ uid: 0 }), { provider: "local" }), "root")).toMatchObject({
      status: "ok",
      found: "uid 0",
    });
  });

  it("the local provider needs pythonX.Y of runtime.python with its venv module", async () => {
    const missing = rowOf(
      await run(host({ uid: 0 }), { provider: "local", runtime: { python: "3.12" } }),
      "python3.12",
    );
    expect(missing).toMatchObject({ status: "fail", found: "not found" });
    expect(missing.fix).toContain("sudo apt-get install python3.12 python3.12-venv");
    const noVenv = host({
      uid: 0,
      commands: { "python3.11 -c": { exitCode: 1, stderr: "ModuleNotFoundError: No module named 'venv'\n" } },
    });
    expect(rowOf(await run(noVenv, { provider: "local" }), "python3.11")).toMatchObject({
      status: "fail",
      fix: "sudo apt-get install python3.11-venv",
    });
  });

  it("terraform: too old or absent fails; only tofu warns until TERRAFORM_BINARY_NAME names it", async () => {
    const old = rowOf(
      await run(host({ commands: { "terraform version -json": JSON.stringify({ terraform_version: "1.4.6" }) } })),
      "terraform",
    );
    expect(old).toMatchObject({ status: "fail", found: "terraform 1.4.6; tofu not found" });
    expect(old.fix).toMatch(/^terraform 1\.4\.6 is older than 1\.5: upgrade it/);
    const tofu = {
      "terraform version -json": { missing: true, exitCode: 127 },
      "tofu version -json": JSON.stringify({ terraform_version: "1.10.6" }),
    };
    expect(rowOf(await run(host({ commands: tofu })), "terraform")).toMatchObject({
      status: "warn",
      found: "terraform not found; tofu 1.10.6",
    });
    expect(
      rowOf(await run(host({ commands: tofu, env: { HOME: "/home/u", TERRAFORM_BINARY_NAME: "tofu" } })), "terraform")
        .status,
    ).toBe("ok");
  });

  it("a TF_CLI_CONFIG_FILE naming no file warns (OpenTofu's warning would break cdktf's JSON), and no row when it exists or is unset", async () => {
    const dangling = await run(host({ env: { HOME: "/home/u", TF_CLI_CONFIG_FILE: "/home/u/.terraformrc" } }));
    expect(rowOf(dangling, "terraform cli config")).toMatchObject({
      status: "warn",
      found: "TF_CLI_CONFIG_FILE=/home/u/.terraformrc names no file",
    });
    const present = await run(
      host({
        env: { HOME: "/home/u", TF_CLI_CONFIG_FILE: "/home/u/.terraformrc" },
        files: { "/home/u/.terraformrc": "" },
      }),
    );
    expect(present.map((r) => r.check)).not.toContain("terraform cli config");
    expect((await run(host())).map((r) => r.check)).not.toContain("terraform cli config");
  });

  it("provider source: offline it only says what deploy will do; --online asks the registry once, and with it down needs Go", async () => {
    const offline = host({ registry: "down", env: { HOME: "/home/u", DVC_CACHE_DIR: "/nonexistent-cache" } });
    expect(rowOf(await run(offline), "terraform providers").status).toBe("ok");
    expect(offline.heads).toEqual([]);
    const down = host({
      registry: "down",
      env: { HOME: "/home/u", DVC_CACHE_DIR: "/nonexistent-cache" },
      commands: { "go version": "go version go1.26.8 linux/amd64\n" },
    });
    const row = rowOf(await run(down, {}, true), "terraform providers");
    expect(down.heads).toEqual(["https://registry.terraform.io/.well-known/terraform.json"]);
    expect(row).toMatchObject({ status: "warn" });
    expect(row.fix).toContain("the first deploy builds hashicorp/null with Go");
    const noGo = rowOf(
      await run(host({ registry: "down", env: { HOME: "/home/u", DVC_CACHE_DIR: "/nonexistent-cache" } }), {}, true),
      "terraform providers",
    );
    expect(noGo.status).toBe("fail");
    expect(noGo.fix).toContain("install Go");
  });

  it("no VT-x/AMD-V fails with the firmware setting, or nested virtualization inside a VM", async () => {
    const bare = rowOf(await run(host({ files: { "/proc/cpuinfo": "flags\t: fpu sse2\n" } })), "virtualization");
    expect(bare).toMatchObject({ status: "fail", found: "no vmx or svm flag in /proc/cpuinfo" });
    const guest = rowOf(
      await run(host({ files: { "/proc/cpuinfo": "flags\t: fpu sse2 hypervisor\n" } })),
      "virtualization",
    );
    expect(guest.fix).toContain("enable nested virtualization");
  });

  it("disk and memory: VMs that do not fit fail; local namespaces only warn", async () => {
    const rows = await run(host({ totalGiB: 6, freeGiB: 5, freeDiskGiB: 4 }));
    expect(rowOf(rows, "disk for VMs")).toMatchObject({ status: "fail" });
    expect(rowOf(rows, "disk for VMs").fix).toMatch(/^free 7\.0 GiB there, or move VirtualBox's machine folder/);
    expect(rowOf(rows, "disk").status).toBe("ok");
    // 3 × 2048 MiB (the config's) and the least the host needs (1 GiB) exceed 6 GiB.
    expect(rowOf(rows, "memory")).toMatchObject({
      status: "fail",
      found: "6.0 GiB total, 5.0 GiB available (free memory); need 6.0 GiB for 3 nodes + at least 1.0 GiB for the host",
    });
    expect(rowOf(await run(host({ uid: 0, totalGiB: 6, freeGiB: 5 }), { provider: "local" }), "memory").status).toBe(
      "warn",
    );
  });

  it("the node row follows the supported lines: Node 20 (end of life) fails with the LTS to install, 22.11 with the update", async () => {
    const rows20 = await run(host({ nodeVersion: "20.20.2" }));
    expect(rowOf(rows20, "node")).toMatchObject({
      status: "fail",
      found: "v20.20.2: is not supported (it is past its end of life); supported lines: 22, 24, 26",
    });
    expect(rowOf(rows20, "node").fix).toMatch(/^install Node\.js 26 LTS/);
    expect(rowOf(await run(host({ nodeVersion: "22.11.0" })), "node").fix).toMatch(/^update Node\.js 22/);
    expect(rowOf(await run(host({ nodeVersion: "24.22.3" })), "node")).toMatchObject({
      status: "ok",
      found: "v24.22.3",
    });
  });

  it("a program that times out is a row too", async () => {
    const row = rowOf(
      await run(host({ commands: { "vagrant --version": { timedOut: true, exitCode: 124 } } })),
      "vagrant",
    );
    expect(row).toMatchObject({ status: "fail", found: "`vagrant --version` did not finish in time" });
  });

  it("renders an aligned table with what to do under each problem", () => {
    const rows: CheckRow[] = [
      { check: "node", status: "ok", found: "v26.12.1", fix: "" },
      { check: "subnet free", status: "fail", found: "overlaps x", fix: "pick another" },
    ];
    expect(renderTable(rows)).toBe(
      [
        "check        status  found / what to do",
        "-----------  ------  ------------------",
        "node         ok      v26.12.1",
        "subnet free  fail    overlaps x",
        "                     → pick another",
      ].join("\n"),
    );
  });
});
