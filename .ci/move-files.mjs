#!/usr/bin/env node
// Moves files the mechanical way, for maintainers: `node .ci/move-files.mjs MOVES.json`,
// MOVES.json an object {"old/path": "new/path", ...} (paths from the project root; a path
// ending in / is a folder: "provision/lib/": "provision/core/" moves what is in it).
// It `git mv`s each file, then rewrites every relative import of the project's TypeScript
// and JavaScript (provision/, stacks/, test/, vitest.config.ts, .ci/) that pointed at a
// moved file, or that a moved file made: `from "./x.js"`, `import("./x.js")`,
// `vi.mock("./x.js")`, `import "./x.js"`. Nothing else is edited, so a commit of its result
// shows renames and import lines only; what names a path in any other way (a string, a
// comment, the README) is a change of its own, in a commit of its own.
// --dry-run prints the moves and the files it would rewrite.
import path from "node:path";
import { $, argv, fs } from "zx";

const root = path.resolve(import.meta.dirname, "..");
$.cwd = root;
$.verbose = false;
const given = await fs.readJson(path.resolve(argv._[0] ?? ""));

const tracked = (await $`git ls-files`).stdout.split("\n").filter(Boolean);
const trackedSet = new Set(tracked);

/** old file -> new file, folders expanded. */
const moves = new Map();
for (const [from, to] of Object.entries(given)) {
  if (from.endsWith("/")) {
    for (const f of tracked) if (f.startsWith(from)) moves.set(f, to + f.slice(from.length));
  } else {
    if (!trackedSet.has(from)) throw new Error(`${from} is not a tracked file`);
    moves.set(from, to.endsWith("/") ? to + path.posix.basename(from) : to);
  }
}
const after = (f) => moves.get(f) ?? f;

/** The tracked file a relative specifier names from a file, with .js standing for .ts as tsc reads it. */
function target(from, spec) {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  const tries = [base, base.replace(/\.js$/, ".ts"), base.replace(/\.mjs$/, ".mts"), base.replace(/\.js$/, ".d.ts"), base.replace(/\.mjs$/, ".d.mts")];
  return tries.find((t) => trackedSet.has(t));
}
/** The specifier of `to` from `from`, written as tsc wants it (a .ts file as .js). */
function specifier(from, to, original) {
  let rel = path.posix.relative(path.posix.dirname(from), to);
  if (!rel.startsWith(".")) rel = `./${rel}`;
  if (original.endsWith(".js") && rel.endsWith(".ts")) rel = `${rel.slice(0, -3)}.js`;
  if (original.endsWith(".mjs") && rel.endsWith(".mts")) rel = `${rel.slice(0, -4)}.mjs`;
  return rel;
}

const IMPORT = /(\bfrom\s+|\bimport\s*\(\s*|^import\s+|\bvi\.mock\(\s*|\bvi\.importActual(?:<[^>]*>)?\(\s*)(["'])(\.{1,2}\/[^"'\n]+)\2/gm;
const sources = tracked.filter((f) => /^(provision|stacks|test|\.ci)\/.*\.(ts|mts|mjs|js|cjs)$|^vitest\.config\.ts$/.test(f));
const rewrites = new Map();
for (const file of sources) {
  const text = await fs.readFile(path.join(root, file), "utf8");
  const out = text.replace(IMPORT, (whole, lead, quote, spec) => {
    const t = target(file, spec);
    if (!t) return whole;
    const next = specifier(after(file), after(t), spec);
    return next === spec ? whole : `${lead}${quote}${next}${quote}`;
  });
  if (out !== text) rewrites.set(file, out);
}

if (argv["dry-run"]) {
  for (const [from, to] of moves) console.log(`move ${from} -> ${to}`);
  for (const f of rewrites.keys()) console.log(`rewrite ${after(f)}`);
  process.exit(0);
}
for (const [file, text] of rewrites) await fs.writeFile(path.join(root, file), text);
for (const [from, to] of moves) {
  await fs.mkdirp(path.dirname(path.join(root, to)));
  await $`git mv ${from} ${to}`;
}
console.log(`${moves.size} files moved, ${rewrites.size} files' imports rewritten`);
