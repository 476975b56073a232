// The generated documentation of cluster.config.json (provision/docs.ts): the committed
// JSON Schema and README reference match the schema in provision/core/config-schema.ts,
// the published schema accepts what the config loader accepts and refuses unknown keys,
// every field is documented, and `npm run docs -- --check` fails on a stale file.
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { $ } from "zx";
import {
  END_MARKER,
  README_FILE,
  SCHEMA_FILE,
  START_MARKER,
  cli,
  main,
  publishedSchema,
  renderConfigReference,
  renderSchemaJson,
} from "../provision/commands/docs.js";
import { resolveCluster } from "../provision/config/resolve.js";
import { ClusterConfigSchema } from "../provision/core/config-schema.js";

// Scratch project folders, removed at the end.
const scratches: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dvc-docs-"));
  scratches.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of scratches) rmSync(dir, { recursive: true, force: true });
});

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const root = path.resolve(import.meta.dirname, "..");
const REGENERATE = "edit provision/core/config-schema.ts only, then run `npm run docs` and commit both generated files";

function readmeSection(readme: string): string {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  return start >= 0 && end > start ? readme.slice(start + START_MARKER.length, end) : "(markers missing)";
}

/** Every field path of the schema: nodes, nodes.count, nodes.overrides[].ip, ... */
function fieldPaths(schema: Record<string, unknown>, at = ""): string[] {
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  return Object.entries(props).flatMap(([name, sub]) => {
    const p = at ? `${at}.${name}` : name;
    const items = sub.items as Record<string, unknown> | undefined;
    return [p, ...fieldPaths(sub, p), ...(items?.properties ? fieldPaths(items, `${p}[]`) : [])];
  });
}

const full = {
  $schema: "./stacks/cluster.config.schema.json",
  name: "lab",
  provider: "libvirt",
  nodes: {
    count: 4,
    namePrefix: "node",
    cpus: 2,
    memoryMb: 3072,
    overrides: [{ name: "node4", cpus: 4, memoryMb: 8192, ip: "192.168.57.40" }],
  },
  box: { name: "debian/bookworm64", version: ">= 12.20240905.1", url: "" },
  network: { subnet: "192.168.57.0/24", firstHost: 11 },
  runtime: { python: "3.11", platform: "x86_64" },
  dask: {
    threadsPerWorker: 2,
    memoryLimitMb: 2048,
    schedulerPort: 8786,
    dashboardPort: 8787,
    workerPort: 8788,
    nannyPort: 8789,
    workerDashboardPort: 8790,
    tls: true,
    allowedFailures: 3,
  },
  benchmark: { onDeploy: false, workloads: ["inc-sleep", "svd"], size: "small", repeats: 2, seed: 7 },
};

/** A strict ajv (unknown keywords are errors) without defaults: what an editor sees. */
function editorValidator() {
  const ajv = new Ajv({ allErrors: true, strict: true });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(path.join(root, SCHEMA_FILE), "utf8")) as object);
}

describe("generated files are up to date", () => {
  it(`${SCHEMA_FILE} matches the schema`, () => {
    const committed = readFileSync(path.join(root, SCHEMA_FILE), "utf8");
    expect(
      committed === renderSchemaJson(),
      `${SCHEMA_FILE} is out of sync with provision/core/config-schema.ts: ${REGENERATE}`,
    ).toBe(true);
  });

  it(`the configuration reference in ${README_FILE} matches the schema`, () => {
    const section = readmeSection(readFileSync(path.join(root, README_FILE), "utf8"));
    expect(
      section === renderConfigReference(),
      `the configuration reference in ${README_FILE} is out of sync with provision/core/config-schema.ts: ${REGENERATE}`,
    ).toBe(true);
  });

  it("npm run docs -- --check passes here, and fails naming each stale file", async () => {
    const ok = await $({ cwd: root, nothrow: true, quiet: true })`node_modules/.bin/tsx provision/cli.ts docs --check`;
    expect(ok.exitCode, ok.stderr).toBe(0);

    const dir = scratch();
    mkdirSync(path.join(dir, "stacks"));
    copyFileSync(path.join(root, README_FILE), path.join(dir, README_FILE));
    writeFileSync(path.join(dir, SCHEMA_FILE), renderSchemaJson().replace('"maximum": 16', '"maximum": 32'));
    expect(main({ projectDir: dir, check: true }).stale).toEqual([SCHEMA_FILE]);
    writeFileSync(
      path.join(dir, README_FILE),
      readFileSync(path.join(dir, README_FILE), "utf8").replace("| `nodes.count` |", "| `nodes.total` |"),
    );
    expect(main({ projectDir: dir, check: true }).stale).toEqual([SCHEMA_FILE, README_FILE]);

    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(cli(["--check"], dir)).toBe(1);
      const printed = stderr.mock.calls.map((c) => String(c[0])).join("");
      expect(printed).toContain(`stale: ${SCHEMA_FILE} — run npm run docs`);
      expect(printed).toContain(`stale: ${README_FILE} — run npm run docs`);
    } finally {
      stderr.mockRestore();
    }

    // Regenerating repairs both files and touches nothing outside the markers.
    writeFileSync(path.join(dir, README_FILE), `# Title\n\nkept\n\n${START_MARKER}\nold\n${END_MARKER}\n\nalso kept\n`);
    expect(main({ projectDir: dir, check: false }).written).toEqual([SCHEMA_FILE, README_FILE]);
    expect(main({ projectDir: dir, check: true }).stale).toEqual([]);
    const readme = readFileSync(path.join(dir, README_FILE), "utf8");
    expect(readme.startsWith("# Title\n\nkept\n\n")).toBe(true);
    expect(readme.endsWith(`${END_MARKER}\n\nalso kept\n`)).toBe(true);
  });

  it("a README without the markers is refused with how to fix it", () => {
    const dir = scratch();
    writeFileSync(path.join(dir, README_FILE), "# no markers\n");
    expect(() => main({ projectDir: dir, check: true })).toThrow(/no configuration reference section/);
  });
});

describe("the published JSON Schema", () => {
  const validate = editorValidator();

  it("is draft-07 with the $id, in a stable order, and round-trips", () => {
    const schema = JSON.parse(renderSchemaJson()) as Record<string, unknown>;
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(schema.$id).toBe(ClusterConfigSchema.$id);
    expect(Object.keys(schema).slice(0, 5)).toEqual(["$schema", "$id", "title", "description", "type"]);
    expect(renderSchemaJson()).toBe(`${JSON.stringify(publishedSchema(), null, 2)}\n`);
    expect(renderSchemaJson()).toBe(renderSchemaJson());
  });

  it("accepts the default config {} (every field optional) without filling defaults", () => {
    expect(validate({}), JSON.stringify(validate.errors)).toBe(true);
  });

  it("accepts a full example, which the config loader accepts too", () => {
    expect(validate(structuredClone(full)), JSON.stringify(validate.errors)).toBe(true);
    expect(resolveCluster(full, root).nodes.map((n) => n.ip)).toEqual([
      "192.168.57.11",
      "192.168.57.12",
      "192.168.57.13",
      "192.168.57.40",
    ]);
  });

  it("rejects unknown keys, at the top and nested, naming them", () => {
    expect(validate({ providr: "local" })).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({
      keyword: "additionalProperties",
      params: { additionalProperty: "providr" },
    });
    expect(validate({ nodes: { count: 2, memory: 1024 } })).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ instancePath: "/nodes", params: { additionalProperty: "memory" } });
    expect(validate({ nodes: { overrides: [{ cpus: 2 }] } })).toBe(false); // an override must name its node
  });

  it("rejects what the loader rejects for type, enum, range and format", () => {
    for (const bad of [
      { provider: "docker" },
      { nodes: { count: 0 } },
      { nodes: { count: "3" } },
      { nodes: { overrides: [{ name: "node1", ip: "300.1.1.1" }] } },
      { benchmark: { workloads: [] } },
    ]) {
      expect(validate(bad), JSON.stringify(bad)).toBe(false);
      expect(() => resolveCluster(bad, root), JSON.stringify(bad)).toThrow(/is not valid/);
    }
  });
});

describe("the configuration reference", () => {
  const reference = renderConfigReference();

  it("documents every field of the schema", () => {
    const paths = fieldPaths(ClusterConfigSchema as unknown as Record<string, unknown>);
    expect(paths.length).toBeGreaterThan(30);
    const missing = paths.filter((p) => !reference.includes(`\`${p}\``));
    expect(missing, `fields missing from the reference: ${missing.join(", ")}`).toEqual([]);
  });

  it("shows type, default, allowed values and description taken from the schema", () => {
    expect(reference).toContain(
      "| `nodes.count` | integer | `3` | 1 to 16 | Number of nodes, named &lt;namePrefix&gt;1..&lt;namePrefix&gt;N.",
    );
    expect(reference).toContain(
      '| `provider` | string | `"virtualbox"` | one of `"virtualbox"`, `"libvirt"`, `"local"`, `"ssh"` |',
    );
    expect(reference).toContain("| `nodes.overrides[].name` | string | required |");
    expect(reference).toContain("| `nodes.overrides[].ip` | string | — | an IPv4 address |");
    expect(reference).toContain(
      'each one of `"inc-sleep"`, `"map-reduce"`, `"placement"`, `"svd"`, `"svd-ratings"`; at least 1 item; no repeats',
    );
    expect(reference).toContain("### `dask`\n\nDask scheduler and worker settings.");
  });

  it("keeps every table row on one line with five cells", () => {
    const rows = reference.split("\n").filter((l) => l.startsWith("| `"));
    expect(rows.length).toBe(
      fieldPaths(ClusterConfigSchema as unknown as Record<string, unknown>).filter(
        (p) => !["nodes", "ssh", "box", "network", "runtime", "dask", "benchmark"].includes(p),
      ).length,
    );
    for (const row of rows) expect(row.replace(/\\\|/g, "").split("|").length, row).toBe(7);
  });
});

describe("the README's map of the code", () => {
  const readme = readFileSync(path.join(import.meta.dirname, "..", "README.md"), "utf8");
  const start = readme.indexOf("<!-- code-map:start -->");
  const section = readme.slice(start, readme.indexOf("<!-- code-map:end -->"));
  const root = path.join(import.meta.dirname, "..");
  const named = [...section.matchAll(/`((?:stacks|provision|cluster-runtime)\/[^`]*)`/g)].map((m) => m[1]!);

  it("names only files and folders that exist", () => {
    expect(start).toBeGreaterThan(0);
    expect(named.length).toBeGreaterThan(20);
    for (const p of named.filter((n) => !n.includes("<"))) expect(existsSync(path.join(root, p)), p).toBe(true);
  });

  /** The layer table: folder, its count of own files, and what it holds. */
  const layers = [
    ...section.matchAll(/^\| `((?:provision|stacks|cluster-runtime)\/[^`]*)` \| *(\d*) *\| (.*) \|$/gm),
  ].map((m) => ({
    folder: m[1]!,
    count: m[2] ? Number(m[2]) : undefined,
    text: m[3]!,
  }));
  const ownFiles = (folder: string) =>
    readdirSync(path.join(root, folder), { withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => d.name);

  it("has a row for every folder of provision/, with its own files counted right", () => {
    const folders = readdirSync(path.join(root, "provision"), { recursive: true, withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => `${path.relative(root, path.join(d.parentPath, d.name)).split(path.sep).join("/")}/`);
    expect(layers.map((l) => l.folder)).toEqual(expect.arrayContaining(["provision/", ...folders]));
    for (const l of layers.filter((x) => x.count !== undefined))
      expect(ownFiles(l.folder).length, l.folder).toBe(l.count);
  });

  it("names each file of a layer in its row (commands and constructs: one per verb, one per stage)", () => {
    for (const l of layers.filter(
      (x) => x.count !== undefined && !["provision/commands/", "stacks/constructs/", "stacks/"].includes(x.folder),
    )) {
      for (const f of ownFiles(l.folder)) {
        const named = f.endsWith(".d.mts") ? f.replace(/\.d\.mts$/, ".mjs") : f;
        expect(l.text, `${l.folder}${f}`).toContain(`\`${named}\``);
      }
    }
  });

  it("counts the places a stage and a provider take as the code has them", async () => {
    const { STAGES } = await import("../provision/core/stage-spec.js");
    const { STAGE_MODULES } = await import("../provision/stages/index.js");
    const { PROVIDERS } = await import("../provision/core/config-schema.js");
    const { CAPABILITIES } = await import("../provision/machines/registry.js");
    const stack = readFileSync(path.join(root, "stacks", "dask-cluster-stack.ts"), "utf8");
    const constructs = readdirSync(path.join(root, "stacks", "constructs")).map((f) => ({
      f,
      text: readFileSync(path.join(root, "stacks", "constructs", f), "utf8"),
    }));
    for (const stage of STAGES) {
      expect(existsSync(path.join(root, "provision", "stages", `${stage}.ts`)), stage).toBe(true);
      expect(Object.keys(STAGE_MODULES), stage).toContain(stage);
      const construct = constructs.find((c) => c.text.includes(`stage: "${stage}"`));
      expect(construct, `a construct in stacks/constructs/ makes the ${stage} stage`).toBeDefined();
      expect(stack, `stacks/dask-cluster-stack.ts places ${construct!.f}`).toContain(
        `./constructs/${construct!.f.replace(/\.ts$/, ".js")}`,
      );
    }
    for (const provider of PROVIDERS) {
      expect(Object.keys(CAPABILITIES), provider).toContain(provider);
      expect(existsSync(path.join(root, "provision", "machines", provider, "provider.ts")), provider).toBe(true);
    }
    // The count written is the number of places the bullet names.
    for (const [kind, unit] of [
      ["A stage", "files"],
      ["A provider", "places"],
    ] as const) {
      const bullet = new RegExp(
        `^- \\*${kind}\\*: (\\d+) ${unit} in (\\d+) folders\\. ([\\s\\S]*?)(?=\\n- |\\n\\n)`,
        "m",
      ).exec(section);
      expect(bullet, kind).not.toBeNull();
      const required = bullet![3]!.split(/\sA 6th|\sA provider with/)[0]!;
      const places = [...required.matchAll(/`((?:provision|stacks)\/[^`]*)`/g)].map((m) => m[1]!);
      expect(places.length, `${kind}: ${places.join(", ")}`).toBe(Number(bullet![1]));
      const folders = new Set(
        places.map((p) => (p.endsWith("/") ? path.posix.dirname(p.slice(0, -1)) : path.posix.dirname(p))),
      );
      expect(folders.size, `${kind}: folders of ${places.join(", ")}`).toBe(Number(bullet![2]));
    }
  });
});

describe("the README's list of dependencies", () => {
  const root = path.join(import.meta.dirname, "..");
  const readme = readFileSync(path.join(root, "README.md"), "utf8");
  const section = readme.slice(
    readme.indexOf("<!-- dependencies:start -->"),
    readme.indexOf("<!-- dependencies:end -->"),
  );
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  /** The packages a table row names in its first cell. */
  const rows = (part: string) =>
    [...part.matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([^`]+)`/g)].map((n) => n[1]!));
  const [runtime, dev] = section.split("Development:");

  it("names every runtime dependency with what it does, and no other", () => {
    expect(section.length).toBeGreaterThan(100);
    expect(rows(runtime!).sort()).toEqual(Object.keys(pkg.dependencies).sort());
  });

  it("names every development dependency with what it does, and no other", () => {
    expect(rows(dev!).sort()).toEqual(Object.keys(pkg.devDependencies).sort());
  });
});
