#!/usr/bin/env node
// The layout's figures, the same way for any checkout: `npm run -s counts` here, or
// `npm run -s counts -- --dir ../other-checkout` for another one (an older commit's worktree,
// say: `git worktree add /tmp/old <commit>`). It reads the tree, and imports with
// dependency-cruiser (this checkout's), and prints:
//   - files per folder of provision/ and stacks/ (each folder's own files, not its subfolders'),
//   - the largest folder, by files and by lines,
//   - the files directly in provision/,
//   - the import circles: groups of files that import each other (strongly connected
//     components of the import graph, type-only imports included),
//   - the lines past 120 columns, in TypeScript (provision/, stacks/) and in Python (cluster-runtime/).
// --json prints the same as one JSON object. A maintainer script: zx's glob, fs and argv do
// its work (no shell). The import graph is read with the options of the lint's layer check.
import { createRequire } from "node:module";
import path from "node:path";
import { argv, fs, glob } from "zx";
import { cruise } from "dependency-cruiser";

const dir = path.resolve(argv.dir ?? path.join(import.meta.dirname, ".."));
const WIDTH = 120;

const files = await glob(["provision/**", "stacks/**"], { cwd: dir, onlyFiles: true, dot: false, ignore: ["**/node_modules/**", "**/__pycache__/**"] });
const byFolder = new Map();
for (const f of files) {
  const folder = path.posix.dirname(f);
  const lines = (await fs.readFile(path.join(dir, f), "utf8")).split("\n").length;
  const entry = byFolder.get(folder) ?? { files: 0, lines: 0 };
  entry.files += 1;
  entry.lines += lines;
  byFolder.set(folder, entry);
}
const folders = [...byFolder.entries()].map(([folder, v]) => ({ folder, ...v })).sort((a, b) => a.folder.localeCompare(b.folder));
const largestByFiles = [...folders].sort((a, b) => b.files - a.files)[0];
const largestByLines = [...folders].sort((a, b) => b.lines - a.lines)[0];
const topLevel = files.filter((f) => path.posix.dirname(f) === "provision").sort();

async function longLines(patterns) {
  let count = 0;
  for (const f of await glob(patterns, { cwd: dir, onlyFiles: true, ignore: ["**/node_modules/**"] })) {
    for (const line of (await fs.readFile(path.join(dir, f), "utf8")).split("\n")) if (line.length > WIDTH) count += 1;
  }
  return count;
}
const longTs = await longLines(["provision/**/*.{ts,mts,mjs}", "stacks/**/*.ts"]);
const longPy = await longLines(["cluster-runtime/**/*.py"]);

// The import graph of provision/ and stacks/, resolved the way tsc resolves it.
const cwd = process.cwd();
process.chdir(dir);
// The options of this checkout's layer check (.dependency-cruiser.cjs), without its rules: the
// same graph the lint reads, for a checkout that has no such file too.
const { options } = createRequire(import.meta.url)("../.dependency-cruiser.cjs");
const result = await cruise(["provision", "stacks"], { ...options, tsConfig: { fileName: path.join(dir, "tsconfig.json") } });
process.chdir(cwd);
const graph = new Map();
for (const m of result.output.modules) graph.set(m.source, m.dependencies.map((d) => d.resolved).filter((r) => r.startsWith("provision/") || r.startsWith("stacks/")));

// Tarjan's strongly connected components; a circle is one of more than one file, or a file importing itself.
function circles(g) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of [...g.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}
const found = circles(graph);

const counts = {
  checkout: dir,
  folders,
  largestFolderByFiles: largestByFiles,
  largestFolderByLines: largestByLines,
  provisionTopLevelFiles: topLevel,
  circles: found,
  linesPast120: { typescript: longTs, python: longPy },
};
if (argv.json) {
  console.log(JSON.stringify(counts, null, 2));
} else {
  console.log(`layout of ${dir}`);
  console.log("\nfiles per folder (its own files; lines):");
  for (const f of folders) console.log(`  ${String(f.files).padStart(3)}  ${String(f.lines).padStart(6)}  ${f.folder}/`);
  console.log(`\nlargest folder: ${largestByFiles.folder}/ by files (${largestByFiles.files}), ${largestByLines.folder}/ by lines (${largestByLines.lines})`);
  console.log(`files directly in provision/: ${topLevel.length} (${topLevel.map((f) => path.posix.basename(f)).join(", ")})`);
  console.log(`import circles: ${found.length}${found.map((c, i) => `\n  ${i + 1}. ${c.length} files: ${c.join(", ")}`).join("")}`);
  console.log(`lines past ${WIDTH} columns: ${longTs} TypeScript (provision/, stacks/), ${longPy} Python (cluster-runtime/)`);
}
