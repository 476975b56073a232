// Provider ssh without a network: the config resolved into nodes (addresses to bind,
// paths, defaults), the ssh_config it writes, what OpenSSH's refusals become (its recorded
// words), every preflight row from a recorded probe and its variants, the service manager
// a host gets, and the exact command preflight sends. The real thing, against real sshd
// hosts: test/ssh.local.test.ts.
import os from "node:os";
import path from "node:path";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { resolveCluster } from "../../provision/config/resolve.js";
import { UserError } from "../../provision/core/errors.js";
import {
  hostRows,
  majorityOf,
  serviceManagerFor,
  sshConfigText,
  sshFailure,
  SshProvider,
  sshPaths,
} from "../../provision/machines/ssh/provider.js";
import { clusterRefOf } from "../../provision/core/stage-spec.js";
import { fakeHost, recorded } from "../helpers/fake-host.js";
import type { Cluster } from "../../provision/core/model.js";

const scratch = mkdtempSync(path.join(os.tmpdir(), "dvc-sshprov-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const project = path.join(scratch, "Cours Dask é");

function lab(extra: object = {}, hosts?: object[]): Cluster {
  return resolveCluster(
    {
      provider: "ssh",
      ssh: {
        hosts: hosts ?? [
          { address: "192.168.77.11", user: "lea", identityFile: "keys/id_ed25519" },
          { address: "pc-07.lab.example", user: "lea", bind: "10.0.0.27", port: 2222 },
          { address: "10.0.0.33", user: "root", root: "/srv/dvc" },
        ],
        knownHosts: "known_hosts",
      },
      ...extra,
    },
    project,
    { configFile: path.join(project, "cluster.config.json") },
  );
}

function refusal(fn: () => unknown): UserError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error("not refused");
}

describe("the config of provider ssh", () => {
  it("makes a node of each host, bound to its address (or bind), with its key, known_hosts and runtime folder resolved", () => {
    const c = lab();
    expect(c.nodes.map((n) => [n.name, n.ip])).toEqual([
      ["node1", "192.168.77.11"],
      ["node2", "10.0.0.27"],
      ["node3", "10.0.0.33"],
    ]);
    expect(c.nodes[0]!.ssh).toEqual({
      address: "192.168.77.11",
      user: "lea",
      port: 22,
      identityFile: path.join(project, "keys", "id_ed25519"),
      knownHosts: path.join(project, "known_hosts"),
      root: `/home/lea/.dask-vm-cluster/${c.id}`,
      serviceManager: "auto",
      sudo: false,
    });
    expect(c.nodes[1]!.ssh).toMatchObject({ address: "pc-07.lab.example", port: 2222 });
    expect(c.nodes[1]!.ssh!.identityFile).toBeUndefined();
    expect(c.nodes[2]!.ssh!.root).toBe("/srv/dvc");
    expect(lab({}, [{ address: "10.0.0.2", user: "root" }]).nodes[0]!.ssh!.root).toMatch(
      /^\/root\/\.dask-vm-cluster\//,
    );
    expect(
      resolveCluster({ provider: "ssh", ssh: { hosts: [{ address: "10.0.0.2", user: "u" }] } }, project).nodes[0]!.ssh!
        .knownHosts,
    ).toBe(path.join(os.homedir(), ".ssh", "known_hosts"));
  });

  it.each([
    ["no hosts", { provider: "ssh" }, "/ssh/hosts", /needs the machines/],
    [
      "a name without bind",
      { provider: "ssh", ssh: { hosts: [{ address: "pc-07.lab.example", user: "lea" }] } },
      "/ssh/hosts/0/bind",
      /is a name, and Dask binds to an address/,
    ],
    [
      "a node count that is not the hosts'",
      { provider: "ssh", nodes: { count: 3 }, ssh: { hosts: [{ address: "10.0.0.2", user: "u" }] } },
      "/nodes/count",
      /3 nodes, but ssh\.hosts lists 1/,
    ],
    [
      "an override's ip",
      {
        provider: "ssh",
        nodes: { overrides: [{ name: "node1", ip: "10.0.0.9" }] },
        ssh: { hosts: [{ address: "10.0.0.2", user: "u" }] },
      },
      "/nodes/overrides/0/ip",
      /its host's/,
    ],
    [
      "hosts for another provider",
      { provider: "local", ssh: { hosts: [{ address: "10.0.0.2", user: "u" }] } },
      "/ssh/hosts",
      /is for provider "ssh"/,
    ],
    [
      "system units without sudo",
      { provider: "ssh", ssh: { hosts: [{ address: "10.0.0.2", user: "u" }], serviceManager: "systemd" } },
      "/ssh/serviceManager",
      /need root/,
    ],
    [
      "two hosts on one address",
      {
        provider: "ssh",
        ssh: {
          hosts: [
            { address: "10.0.0.2", user: "u" },
            { address: "10.0.0.2", user: "v" },
          ],
        },
      },
      "/ssh/hosts/1/bind",
      /both get 10\.0\.0\.2/,
    ],
  ])("refuses %s (exit 2, at its field)", (_what, config, at, message) => {
    const err = refusal(() => resolveCluster(config, project));
    expect(err.exitCode).toBe(2);
    expect(err.problems).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: at, message: expect.stringMatching(message) })]),
    );
  });
});

describe("ssh_config", () => {
  it("names the host, user, port, key and known_hosts (quoted, % doubled), checks host keys strictly and never prompts", () => {
    const c = lab({}, [{ address: "192.168.77.11", user: "lea", identityFile: "/k/100% key" }]);
    expect(sshConfigText(c.nodes[0]!, undefined)).toBe(
      [
        "# dask-vm-cluster: node1 of provider ssh, from cluster.config.json (regenerated; edit the config instead)",
        "Host node1",
        "  HostName 192.168.77.11",
        "  User lea",
        "  Port 22",
        '  IdentityFile "/k/100%% key"',
        "  IdentitiesOnly yes",
        `  UserKnownHostsFile "${path.join(project, "known_hosts")}"`,
        "  StrictHostKeyChecking yes",
        "  UpdateHostKeys no",
        "  BatchMode yes",
        "  ConnectTimeout 10",
        "  LogLevel ERROR",
        "",
      ].join("\n"),
    );
    expect(sshConfigText(c.nodes[0]!, "/tmp/dvc-ssh-1000")).toContain(
      "  ControlMaster auto\n  ControlPath /tmp/dvc-ssh-1000/%C\n",
    );
  });
});

describe("what OpenSSH's refusals become (its recorded words)", () => {
  const node = lab().nodes[0]!;
  it.each([
    [
      "openssh-9.2-changed-host-key.txt",
      /its host key is not the one .*known_hosts holds \(changed since it was recorded\)/,
      /ssh-keygen -R '192\.168\.77\.11'/,
    ],
    [
      "openssh-9.2-unknown-host-key.txt",
      /its host key is not in .*known_hosts/,
      /connect once by hand and check the fingerprint/,
    ],
    [
      "openssh-9.2-key-refused.txt",
      /refused the key .*id_ed25519: .*Permission denied \(publickey\)/,
      /ssh-copy-id -i .*id_ed25519\.pub.* -p 22 lea@192\.168\.77\.11/,
    ],
    ["openssh-9.2-connection-refused.txt", /Connection refused/, /start the ssh server there/],
    [
      "openssh-9.2-identity-missing.txt",
      /the key .* cannot be read \(Warning: Identity file .* not accessible/,
      /identityFile/,
    ],
  ])("%s", (file, found, fix) => {
    const r = sshFailure(node, recorded(file));
    expect(r.found).toMatch(/^lea@192\.168\.77\.11: |^lea@192\.168\.77\.11 /);
    expect(r.found).toMatch(found);
    expect(r.fix).toMatch(fix);
  });
});

describe("preflight's rows from a host's probe (recorded on a Debian 12 host, then varied)", () => {
  const c = lab({}, [{ address: "192.168.77.11", user: "dvcman1" }]);
  const cluster = clusterRefOf(c);
  const node = c.nodes[0]!;
  const probe = recorded("ssh-probe-debian12.txt");
  const now = Number(/^now=(\d+)$/m.exec(probe)![1]) * 1000;
  const needs = { box: c.config.box, python: "3.11", platform: "x86_64" as const, dask: c.config.dask };
  const rows = (stdout: string, majority = "3.11.2", localNow = now) =>
    hostRows({ node, result: { stdout, stderr: "", exitCode: 0 }, localNow }, cluster, needs, majority);
  const row = (stdout: string, check: string, majority?: string, localNow?: number) =>
    rows(stdout, majority, localNow).find((r) => r.check === `node1 ${check}`)!;
  const edit = (key: string, value: string) => probe.replace(new RegExp(`^${key}=.*$`, "m"), `${key}=${value}`);

  it("passes a host that can run the cluster, naming what it found", () => {
    const all = rows(probe);
    expect(all.filter((r) => r.status !== "ok")).toEqual([]);
    expect(all.map((r) => r.check)).toEqual(
      ["ssh", "python", "platform", "bind", "ports", "clock", "disk", "root", "services"].map((x) => `node1 ${x}`),
    );
    expect(row(probe, "python").found).toBe("python3.11 3.11.2 with venv");
    expect(row(probe, "services").found).toMatch(/^the runtime's supervisor, as the user/);
  });

  it("refuses another patch level than the other hosts', and another minor behind python3.11", () => {
    expect(row(edit("python", "3.11.7"), "python")).toMatchObject({
      status: "fail",
      found: "node1: python3.11 is 3.11.7, the other hosts run 3.11.2",
    });
    expect(row(edit("python", "3.12.1"), "python", "3.12.1")).toMatchObject({
      status: "fail",
      found: "node1: python3.11 there runs Python 3.12.1",
    });
    expect(row(`${probe.replace(/^python=.*$/m, "python=missing")}\npythons=python3=3.9.2 `, "python")).toMatchObject({
      status: "fail",
      found: "node1: no python3.11 (found: python3=3.9.2)",
    });
    expect(row(edit("venv", "no"), "python")).toMatchObject({
      status: "fail",
      fix: "install it there: sudo apt-get install python3.11-venv",
    });
  });

  it("refuses a bind address the host lacks, ports another program holds, a clock a day behind, a small disk, someone else's folder", () => {
    expect(row(edit("addrs", "127.0.0.1 10.1.1.1"), "bind")).toMatchObject({
      status: "fail",
      found: "node1: 192.168.77.11 is not an address of this host (it has 127.0.0.1, 10.1.1.1)",
      path: "/ssh/hosts/0/bind",
    });
    expect(
      row(
        `${probe}port=8786:other:/usr/bin/python3 -m http.server 8786\nport=8788:ours:/home/dvcman1/.dask-vm-cluster/x/venv/bin/dask worker`,
        "ports",
      ),
    ).toMatchObject({
      status: "fail",
      found: "node1: 8786 in use by /usr/bin/python3 -m http.server 8786",
    });
    expect(row(probe, "clock", undefined, now + 2 * 86_400_000)).toMatchObject({
      status: "fail",
      found: "node1: 172800 s behind this computer",
    });
    expect(row(probe, "clock", undefined, now - 120_000)).toMatchObject({
      status: "warn",
      found: "node1: 120 s ahead of this computer",
    });
    expect(row(edit("free", String(200 * 1024 ** 2)), "disk")).toMatchObject({ status: "fail" });
    expect(row(edit("root", "foreign"), "root")).toMatchObject({
      status: "fail",
      found: expect.stringMatching(/exists and is not a runtime folder of this project/),
    });
    expect(row(edit("root", "ours:other-123456"), "root")).toMatchObject({
      status: "fail",
      found: expect.stringMatching(/belongs to cluster other-123456/),
    });
    expect(row(edit("root", `ours:${c.id}`), "root")).toMatchObject({
      status: "ok",
      found: expect.stringMatching(/this cluster's/),
    });
    expect(row(edit("arch", "aarch64"), "platform")).toMatchObject({ status: "fail", path: "/runtime/platform" });
    expect(row(edit("glibc", "2.24"), "platform")).toMatchObject({
      status: "fail",
      fix: expect.stringMatching(/glibc 2\.28/),
    });
  });

  it("a host that did not let ssh in gets one row saying why", () => {
    const r = hostRows(
      { node, result: { stdout: "", stderr: recorded("openssh-9.2-key-refused.txt"), exitCode: 255 }, localNow: now },
      cluster,
      needs,
      undefined,
    );
    expect(r).toEqual([
      expect.objectContaining({
        check: "node1 ssh",
        status: "fail",
        found: expect.stringMatching(/refused the keys ssh offered/),
      }),
    ]);
  });

  it("takes the majority's Python as the cluster's", () => {
    expect(majorityOf(["3.11.2", "3.11.7", "3.11.2"])).toBe("3.11.2");
    expect(majorityOf(["3.11.7", undefined, "missing"])).toBe("3.11.7");
  });
});

describe("the service manager a host gets", () => {
  it.each([
    ["auto", { systemd_user: "yes", linger: "yes" }, "systemd-user"],
    ["auto", { systemd_user: "yes", linger: "no" }, "supervisor"],
    ["auto", { systemd_user: "no" }, "supervisor"],
    ["systemd-user", { systemd_user: "yes", linger: "no" }, undefined],
    ["systemd", { sudo: "yes" }, "systemd"],
    ["systemd", { sudo: "no" }, undefined],
    ["supervisor", { systemd_user: "yes", linger: "yes" }, "supervisor"],
  ] as const)("%s with %j: %s", (wanted, facts, manager) => {
    expect(serviceManagerFor(wanted, facts)).toBe(manager);
  });
});

describe("preflight through the provider", () => {
  it("checks the key and known_hosts files, then sends every host one probe on ssh's stdin with its config, strict and non-interactive", async () => {
    const dir = mkdtempSync(path.join(scratch, "cluster-"));
    const c = resolveCluster(
      {
        provider: "ssh",
        ssh: { hosts: [{ address: "192.168.77.11", user: "dvcman1" }], knownHosts: path.join(dir, "known_hosts") },
      },
      dir,
    );
    const host = fakeHost({
      files: { [path.join(dir, "known_hosts")]: "192.168.77.11 ssh-ed25519 AAAA\n" },
      commands: {
        "ssh -V": { stderr: "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.22" },
        "ssh -F": {
          stdout: recorded("ssh-probe-debian12.txt").replace(/^now=.*$/m, `now=${Math.floor(Date.now() / 1000)}`),
        },
      },
    });
    const rows = await new SshProvider(host).checks(clusterRefOf(c), {
      box: c.config.box,
      python: "3.11",
      platform: "x86_64",
      dask: c.config.dask,
    });
    expect(rows.filter((r) => r.status !== "ok")).toEqual([]);
    const probe = host.calls.find((x) => x.argv[0] === "ssh" && x.argv[1] === "-F")!;
    const conf = sshPaths(c).config("node1");
    // A login of its own (no shared connection): a key refused since would not show on one.
    expect(probe.argv).toEqual([
      "ssh",
      "-F",
      conf,
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=10",
      "-o",
      "ControlMaster=no",
      "-o",
      "ControlPath=none",
      "node1",
      "bash",
      "-s",
    ]);
    expect(probe.input).toMatch(
      /^export DVC_PY=python3\.11\nexport DVC_ROOT=\/home\/dvcman1\/\.dask-vm-cluster\/.*\nexport DVC_PORTS='8786 8787 8788 8789 8790'\nexport DVC_SUDO=no\n/,
    );
    expect(readFileSync(conf, "utf8")).toMatch(/StrictHostKeyChecking yes/);
  });

  it("refuses at once without known_hosts, saying how to get the keys there safely", async () => {
    const c = lab();
    const rows = await new SshProvider(fakeHost({ commands: { "ssh -V": { stderr: "OpenSSH_9.2p1" } } })).checks(
      clusterRefOf(c),
      { box: c.config.box, python: "3.11", platform: "x86_64" },
    );
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          check: "known hosts",
          status: "fail",
          fix: expect.stringMatching(/check its fingerprint/),
        }),
      ]),
    );
    expect(existsSync(sshPaths(c).config("node1"))).toBe(false);
  });
});
