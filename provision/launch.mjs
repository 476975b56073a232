// node provision/launch.mjs <entry.ts> [args...]: runs one of this project's TypeScript
// entry points (the cdktf app, the stage runner) as a single ES module compiled by esbuild,
// kept in cdktf.out/.compiled/ and compiled again only when a file it was built from
// changed (each input's sha256 is kept beside it). Packages stay external: node loads
// them from node_modules as it would under tsx.
//
// Why not `node --import tsx`: tsx resolves and transforms the ~100 modules of an entry
// through loader hooks on every start, about 1 s of CPU per process, and a deploy starts
// one process per stage, three per node (and the destroy one more per node): on 2 cores a
// 16-node deploy spent most of its time starting processes. The compiled module starts in
// about 0.15 s. Plain JavaScript on purpose: it must run before anything is compiled.
//
// Where esbuild cannot run (its platform binary missing), it falls back to tsx's loader,
// slower but the same code. The compiled file sits two folders below the project, as the
// sources do, so paths.ts finds the project from it the same way.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { requireSupportedNode } from "./core/node-support.mjs";

// An unsupported Node gets one line with the fix, before anything is compiled or loaded.
requireSupportedNode();

const PROJECT = fileURLToPath(new URL("..", import.meta.url));
const OUT_DIR = path.join(PROJECT, "cdktf.out", ".compiled");

// --prepare: compile when needed and exit, without running it (the synth prepares the stage
// runner, so the stages Terraform starts together never compile at once).
const prepare = process.argv[2] === "--prepare";
const [entryArg, ...rest] = process.argv.slice(prepare ? 3 : 2);
if (!entryArg) {
  console.error("usage: node provision/launch.mjs [--prepare] <entry.ts> [args...] (e.g. node provision/launch.mjs provision/stage.ts apply)");
  process.exit(2);
}
const entry = path.resolve(PROJECT, entryArg);
if (!existsSync(entry)) {
  console.error(`launch.mjs: ${entry} does not exist: give a TypeScript entry point of this project, e.g. provision/stage.ts`);
  process.exit(2);
}
const name = path.relative(PROJECT, entry).replace(/\.ts$/, "").replace(/[\\/]/g, "-");
const manifestFile = path.join(OUT_DIR, `${name}.json`);

const sha256 = (file) => createHash("sha256").update(readFileSync(file)).digest("hex");

/** The compiled module when every file it was built from is unchanged, else undefined. */
function upToDate() {
  try {
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
    for (const [rel, sum] of Object.entries(manifest.inputs)) if (sha256(path.join(PROJECT, rel)) !== sum) return undefined;
    const out = path.join(OUT_DIR, manifest.output);
    return existsSync(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

/** Files the current manifests name: everything else in OUT_DIR is left from older builds. */
function inUse() {
  const keep = new Set();
  for (const f of readdirSync(OUT_DIR)) {
    if (!f.endsWith(".json")) continue;
    try {
      for (const out of JSON.parse(readFileSync(path.join(OUT_DIR, f), "utf8")).files) keep.add(out);
    } catch {}
  }
  return keep;
}

/**
 * Compiles the entry, with code splitting: what an entry imports lazily (the benchmark's
 * charts, the wheel downloader) is a chunk of its own, loaded when used, and so are the
 * packages only it imports. Every file is written aside and renamed, so processes starting
 * together never read half a file; chunk names carry their content's hash.
 */
async function compile() {
  const { build } = await import("esbuild");
  mkdirSync(OUT_DIR, { recursive: true });
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: PROJECT,
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    sourcemap: "linked",
    metafile: true,
    write: false,
    logLevel: "error",
    outdir: OUT_DIR,
    entryNames: `${name}-[hash]`,
    chunkNames: "chunk-[hash]",
    outExtension: { ".js": ".mjs" },
  });
  const files = [];
  let main;
  for (const file of result.outputFiles) {
    const tmp = `${file.path}.${process.pid}`;
    writeFileSync(tmp, file.contents);
    renameSync(tmp, file.path);
    files.push(path.basename(file.path));
    if (path.basename(file.path).startsWith(`${name}-`) && file.path.endsWith(".mjs") && !main) main = file.path;
  }
  const inputs = {};
  for (const rel of Object.keys(result.metafile.inputs).sort()) inputs[rel] = sha256(path.join(PROJECT, rel));
  writeFileSync(`${manifestFile}.${process.pid}`, `${JSON.stringify({ entry: path.relative(PROJECT, entry), output: path.basename(main), files, inputs }, null, 1)}\n`);
  renameSync(`${manifestFile}.${process.pid}`, manifestFile);
  // Older builds' files, once no process can still be starting from them.
  const keep = inUse();
  for (const f of readdirSync(OUT_DIR)) {
    const p = path.join(OUT_DIR, f);
    if (!keep.has(f) && !f.endsWith(".json") && Date.now() - statSync(p).mtimeMs > 600_000) rmSync(p, { force: true });
  }
  return main;
}

let module;
try {
  module = upToDate() ?? (await compile());
} catch (err) {
  if (prepare) {
    console.error(`launch.mjs: cannot compile ${entryArg} (${err.message}): its processes will run it with tsx, slower`);
    process.exit(0);
  }
  if (process.env.DVC_VERBOSE === "1") console.error(`launch.mjs: compiling ${entryArg} failed, running it with tsx instead: ${err.message}`);
  module = undefined;
}
if (prepare) process.exit(0);
// What the entry sees: its own path as argv[1], then its arguments, as under tsx.
process.argv = [process.argv[0], entry, ...rest];
if (module) {
  // Stack traces in TypeScript lines cost 0.05 s per start: with --verbose only.
  if (process.env.DVC_VERBOSE === "1") process.setSourceMapsEnabled(true);
  await import(pathToFileURL(module).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(entry).href);
}
