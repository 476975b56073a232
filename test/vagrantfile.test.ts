// The real `vagrant validate` (Debian's vagrant and vagrant-libvirt) on
// provision/machines/vagrant/Vagrantfile, fed machine lists written by the provider code itself, so the
// Ruby and TypeScript sides cannot drift apart. VirtualBox cannot run here: Vagrant only
// needs `VBoxManage --version` to load its VirtualBox provider and validate the
// virtualbox block, so a stand-in answering that one question goes first on PATH.
// vagrant-libvirt validates without a libvirt daemon.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveCluster } from "../provision/config/resolve.js";
import { clusterRefOf, type ClusterRef } from "../provision/core/stage-spec.js";
import { fakeHost } from "./helpers/fake-host.js";
import { virtualboxProvider } from "../provision/machines/virtualbox/provider.js";
import { libvirtProvider, type LibvirtOptions } from "../provision/machines/libvirt/provider.js";
import { MIN_VAGRANT } from "../provision/machines/vagrant/provider.js";

const REPO = path.resolve(import.meta.dirname, "..");
const VAGRANTFILE_DIR = path.join(REPO, "provision", "machines", "vagrant");

const probe = spawnSync("vagrant", ["--version"], {
  encoding: "utf8",
  env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: "1" },
});
const hasVagrant = !probe.error && probe.status === 0;
if (!hasVagrant) {
  console.warn(
    "test/vagrantfile.test.ts skipped: `vagrant` is not installed (Debian/Ubuntu: sudo apt-get install --no-install-recommends vagrant vagrant-libvirt)",
  );
}

let tmp: string;
let stubBin: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "dvc-vagrantfile-"));
  stubBin = path.join(tmp, "bin");
  mkdirSync(stubBin);
  writeFileSync(path.join(stubBin, "VBoxManage"), '#!/bin/sh\n[ "$1" = --version ] && echo 7.0.14r161095\nexit 0\n');
  chmodSync(path.join(stubBin, "VBoxManage"), 0o755);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const host = (kvm: boolean) => fakeHost({ kvm, env: {} });

function clusterRef(provider: "virtualbox" | "libvirt", config: object = {}): ClusterRef {
  return clusterRefOf(
    resolveCluster(
      { provider, nodes: { count: 3, overrides: [{ name: "node3", cpus: 2, memoryMb: 3072 }] }, ...config },
      path.join(tmp, "project"),
    ),
  );
}

/** Writes a machine list as the provider would, and returns its path. */
function machineList(
  name: string,
  provider: "virtualbox" | "libvirt",
  options: LibvirtOptions = {},
  config: object = {},
): string {
  const cluster = clusterRef(provider, config);
  const box = { name: "debian/bookworm64", version: ">= 12.20240905.1", url: "" };
  const list =
    provider === "virtualbox"
      ? virtualboxProvider(host(false)).machineList(cluster, box, {
          provider,
          kind: "hostonlyif",
          name: "vboxnet7",
          subnet: cluster.subnet,
        })
      : libvirtProvider(host(true), options).machineList(cluster, box, {
          provider,
          kind: "libvirt",
          name: cluster.id,
          subnet: cluster.subnet,
        });
  const file = path.join(tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify(list, null, 2));
  return file;
}

function validate(machines: string | undefined, provider: string, vagrantfileDir = VAGRANTFILE_DIR) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${stubBin}:${process.env.PATH}`,
    VAGRANT_CWD: vagrantfileDir,
    VAGRANT_DOTFILE_PATH: path.join(tmp, "dotfile"),
    VAGRANT_HOME: path.join(tmp, "vagrant-home"),
    VAGRANT_DEFAULT_PROVIDER: provider,
    VAGRANT_CHECKPOINT_DISABLE: "1",
    VAGRANT_NO_COLOR: "1",
  };
  delete env.DVC_MACHINES;
  if (machines) env.DVC_MACHINES = machines;
  const r = spawnSync("vagrant", ["validate"], { cwd: tmp, env, encoding: "utf8", timeout: 90_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A copy of the Vagrantfile with one line changed, to show validate really reads a block. */
function mutatedVagrantfile(name: string, from: string, to: string): string {
  const text = readFileSync(path.join(VAGRANTFILE_DIR, "Vagrantfile"), "utf8");
  expect(text).toContain(from);
  const d = path.join(tmp, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(path.join(d, "Vagrantfile"), text.replace(from, to));
  return d;
}

describe.skipIf(!hasVagrant)("provision/machines/vagrant/Vagrantfile under the real vagrant validate", () => {
  it("validates the virtualbox machine list", () => {
    const r = validate(machineList("vbox", "virtualbox"), "virtualbox");
    expect(r.out).toContain("Vagrantfile validated successfully.");
    expect(r.status).toBe(0);
  });

  it("validates the virtualbox block for real: an unknown setting there fails", () => {
    const d = mutatedVagrantfile(
      "vbox-bad",
      "vb.linked_clone = true",
      "vb.linked_clone = true\n          vb.dvc_no_such_setting = 1",
    );
    const r = validate(machineList("vbox", "virtualbox"), "virtualbox", d);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain("VirtualBox Provider:");
    expect(r.out).toContain("dvc_no_such_setting");
  });

  it("validates the libvirt machine list with KVM", () => {
    const r = validate(machineList("kvm", "libvirt"), "libvirt");
    expect(r.out).toContain("Vagrantfile validated successfully.");
    expect(r.status).toBe(0);
  });

  it("validates the libvirt machine list under qemu emulation with a CPU model, a /21 subnet and the default management network", () => {
    const file = machineList(
      "qemu",
      "libvirt",
      { driver: "qemu", managementNetwork: "default" },
      { network: { subnet: "192.168.56.0/21" } },
    );
    expect(JSON.parse(readFileSync(file, "utf8")).libvirt).toEqual({
      driver: "qemu",
      cpuModel: "Nehalem",
      managementNetwork: "default",
    });
    const r = validate(file, "libvirt");
    expect(r.out).toContain("Vagrantfile validated successfully.");
    expect(r.status).toBe(0);
  });

  it("validates the libvirt block for real: an unknown setting there fails", () => {
    const d = mutatedVagrantfile(
      "libvirt-bad",
      "lv.driver = driver",
      "lv.driver = driver\n          lv.dvc_no_such_setting = 1",
    );
    const r = validate(machineList("kvm", "libvirt"), "libvirt", d);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain("Libvirt Provider:");
    expect(r.out).toContain("dvc_no_such_setting");
  });

  it("rejects an unknown provider, listing the allowed ones", () => {
    const file = path.join(tmp, "vmware.json");
    writeFileSync(
      file,
      JSON.stringify({
        ...JSON.parse(readFileSync(machineList("vbox", "virtualbox"), "utf8")),
        provider: "vmware_desktop",
      }),
    );
    const r = validate(file, "virtualbox");
    expect(r.status).not.toBe(0);
    expect(r.out).toContain(
      'dask-vm-cluster: provider "vmware_desktop" is not one this Vagrantfile serves; allowed: virtualbox, libvirt',
    );
  });

  it("rejects an unknown libvirt driver, listing the allowed ones", () => {
    const file = path.join(tmp, "xen.json");
    const list = JSON.parse(readFileSync(machineList("kvm", "libvirt"), "utf8"));
    writeFileSync(file, JSON.stringify({ ...list, libvirt: { ...list.libvirt, driver: "xen" } }));
    const r = validate(file, "libvirt");
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('libvirt.driver "xen" is not allowed; use one of: kvm, qemu');
  });

  it("stops early when the machine list is missing, naming the command that writes it", () => {
    const missing = path.join(tmp, "nowhere", "machines.json");
    const r = validate(missing, "virtualbox");
    expect(r.status).not.toBe(0);
    expect(r.out).toContain(`dask-vm-cluster: the machine list ${missing} does not exist.`);
    expect(r.out).toContain("It is written by the box stage of `npx cdktf deploy`");
  });

  it("looks for the project's .cluster/machines.json, three folders above the Vagrantfile, when DVC_MACHINES is unset", () => {
    const d = mutatedVagrantfile(
      path.join("checkout", "provision", "machines", "vagrant"),
      "# -*- mode: ruby -*-",
      "# -*- mode: ruby -*-",
    );
    const r = validate(undefined, "virtualbox", d);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain(
      `the machine list ${path.join(tmp, "checkout", ".cluster", "machines.json")} does not exist`,
    );
  });
});

describe("provision/machines/vagrant/Vagrantfile and the providers agree", () => {
  it("Vagrant.require_version is MIN_VAGRANT, the version the providers' checks ask for", () => {
    const text = readFileSync(path.join(VAGRANTFILE_DIR, "Vagrantfile"), "utf8");
    const required = /^Vagrant\.require_version ">= ([\d.]+)"/m.exec(text)?.[1];
    expect(required).toBe(MIN_VAGRANT.join("."));
  });
});
