// A user's files between the host and the nodes: a folder packed into one tar (what an
// ignore file and a size limit allow), sent to a node in one copy with progress, unpacked
// there in place of the old folder; and a folder of a node, or a list of its files,
// brought back the same way (markStart and changedSince find what a job wrote in its folder).
// One copy per folder, not per file: on a VM each copy is an ssh command.
// tar (node-tar, npm's own) writes and reads the archives on the host, in every OS's
// paths; `ignore` reads .dvcignore with git's rules, as students know them from .gitignore.
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import ignore from "ignore";
import * as tar from "tar";
import { badInput } from "../core/errors.js";
import { shq, type Transport } from "../machines/transport.js";

/** The ignore file read at the top of a packed folder (git's .gitignore rules). */
export const IGNORE_FILE = ".dvcignore";
/** Never sent: tool state, caches, virtual environments, this project's own generated folders. */
export const ALWAYS_IGNORED = [
  ".git/",
  "node_modules/",
  "__pycache__/",
  "*.pyc",
  ".venv/",
  "venv/",
  ".ipynb_checkpoints/",
  ".cluster/",
  "cdktf.out/",
  ".terraform/",
  ".DS_Store",
];

export interface Packed {
  /** The tar, in a private temporary folder: remove() deletes both. */
  readonly tarPath: string;
  /** Files inside, relative, with forward slashes. */
  readonly files: readonly string[];
  /** Bytes of the files (before tar's headers). */
  readonly bytes: number;
  remove(): void;
}

/** "1.2 MB", "512 B": sizes as people read them. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** "100MB", "2 GB", "500k", "1048576" -> bytes; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(text);
  if (!m) return undefined;
  const mult = { "": 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Math.round(Number(m[1]) * mult);
}

/**
 * The files of a folder that would be sent: everything but ALWAYS_IGNORED and what its
 * .dvcignore lists; symbolic links are kept as links (never followed out of the folder).
 */
export function listFolder(dir: string): Array<{ rel: string; bytes: number }> {
  const rules = ignore().add(ALWAYS_IGNORED);
  const ignoreFile = path.join(dir, IGNORE_FILE);
  try {
    rules.add(readFileSync(ignoreFile, "utf8"));
  } catch {
    // no ignore file: the built-in list alone
  }
  const out: Array<{ rel: string; bytes: number }> = [];
  const walk = (abs: string, rel: string) => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (rules.ignores(`${r}/`)) continue;
        walk(path.join(abs, entry.name), r);
      } else if (!rules.ignores(r)) {
        out.push({ rel: r, bytes: entry.isFile() ? statSync(path.join(abs, entry.name)).size : 0 });
      }
    }
  };
  walk(dir, "");
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** Packs a folder for a node; bad input (exit 2) naming the biggest files when it is over maxBytes. */
export async function packFolder(dir: string, maxBytes: number, what: string): Promise<Packed> {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(dir);
  } catch {
    throw badInput(`${dir} does not exist`, [
      { path: what, message: `no folder at ${dir}`, fix: "give the path of an existing folder" },
    ]);
  }
  if (!statSync(dir).isDirectory())
    throw badInput(`${dir} is not a folder`, [
      { path: what, message: `${dir} is a ${st.isFile() ? "file" : "special file"}`, fix: "give a folder" },
    ]);
  const files = listFolder(dir);
  const bytes = files.reduce((s, f) => s + f.bytes, 0);
  if (bytes > maxBytes) {
    const biggest = [...files]
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, 5)
      .map((f) => `${f.rel} (${formatBytes(f.bytes)})`)
      .join(", ");
    throw badInput(`${dir} holds ${formatBytes(bytes)}, over the limit of ${formatBytes(maxBytes)}`, [
      {
        path: what,
        message: `the biggest files: ${biggest}`,
        fix: `list what the job does not need in ${path.join(dir, IGNORE_FILE)} (one pattern a line, as in .gitignore), put data on the nodes once with npm run data -- push, or raise --max-size`,
      },
    ]);
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), "dvc-pack-"));
  const tarPath = path.join(tmp, "folder.tar");
  // portable: no owner names or ids; the node's user owns what it unpacks.
  await tar.create(
    { file: tarPath, cwd: dir, portable: true, noDirRecurse: true },
    files.map((f) => f.rel),
  );
  return {
    tarPath,
    files: files.map((f) => f.rel),
    bytes,
    remove: () => rmSync(tmp, { recursive: true, force: true }),
  };
}

/**
 * Progress of one copy, or of the same copy to several nodes at once, as one line per
 * tenth of the whole (nothing under 1 MB): a callback per node, each given the bytes that
 * node has received so far.
 */
export function copyProgress(
  label: string,
  bytesEach: number,
  nodes: readonly string[],
  print: (line: string) => void,
): Record<string, (bytes: number) => void> {
  const total = bytesEach * nodes.length;
  const sent = new Map<string, number>();
  let shown = 0;
  const on = (node: string) => (bytes: number) => {
    sent.set(node, bytes);
    const sum = [...sent.values()].reduce((a, b) => a + b, 0);
    const step = Math.floor((sum / total) * 10);
    if (total < 1e6 || step <= shown) return;
    shown = step;
    const where = nodes.length > 1 ? ` to ${nodes.length} nodes` : "";
    print(`${label}: ${formatBytes(sum)} of ${formatBytes(total)}${where} (${Math.min(100, step * 10)} %)`);
  };
  return Object.fromEntries(nodes.map((n) => [n, on(n)]));
}

/**
 * Sends a packed folder to a node: the tar copied next to remoteDir, unpacked into a new
 * folder that then takes remoteDir's place (nobody sees half of it), the tar removed. With
 * merge, unpacked into remoteDir instead, keeping what is there and newer.
 */
export async function sendFolder(
  t: Transport,
  packed: Packed,
  remoteDir: string,
  onProgress?: (bytes: number) => void,
  how: { merge?: boolean } = {},
): Promise<void> {
  const incoming = `${remoteDir}.incoming-${process.pid}`;
  const tarPath = `${incoming}.tar`;
  await t.put(packed.tarPath, tarPath, 0o600, onProgress);
  if (how.merge) {
    // Into the folder as it is: other files stay, and a file newer there than here too.
    await t.run(
      `set -e; mkdir -p ${shq(remoteDir)}; tar -xf ${shq(tarPath)} -C ${shq(remoteDir)} --no-same-owner --keep-newer-files; rm -f ${shq(tarPath)}`,
      { timeoutMs: 600_000 },
    );
    return;
  }
  await t.run(
    `set -e; rm -rf ${shq(incoming)}; mkdir -p ${shq(incoming)}; tar -xf ${shq(tarPath)} -C ${shq(incoming)} --no-same-owner; rm -f ${shq(tarPath)}; ` +
      `rm -rf ${shq(remoteDir)}; mv ${shq(incoming)} ${shq(remoteDir)}`,
    { timeoutMs: 600_000 },
  );
}

// GNU tar exits 1 when a file changed while it was read (a notebook autosaving): the
// archive is still whole, with that file as it was at one moment. 2 and up are errors.
const TAR_OK = (command: string) => `rc=0; ${command} || rc=$?; [ "$rc" -le 1 ] || exit "$rc"`;

/**
 * Brings a node's folder back into localDir (created; files of the same name replaced,
 * others kept; with keepNewer, a file newer here stays). Returns the files in the
 * node's folder; none when it is missing or empty.
 */
export async function fetchFolder(
  t: Transport,
  remoteDir: string,
  localDir: string,
  exclude: readonly string[] = [],
  how: { keepNewer?: boolean } = {},
): Promise<string[]> {
  const excludes = exclude.map((e) => `--exclude=${shq(e)}`).join(" ");
  return fetchPacked(
    t,
    remoteDir,
    (tarFile) =>
      `if [ -d ${shq(remoteDir)} ] && [ -n "$(ls -A ${shq(remoteDir)})" ]; then ${TAR_OK(`tar -cf ${tarFile} ${excludes} -C ${shq(remoteDir)} .`)}; echo packed; fi`,
    localDir,
    how,
  );
}

/**
 * Brings some files of a node's folder back into localDir, at the same relative paths
 * (files: relative to remoteDir, forward slashes; any name, newlines included, as the
 * list travels NUL-separated). A file gone meanwhile is left out, not an error. Returns
 * the files that came.
 */
export async function fetchFiles(
  t: Transport,
  remoteDir: string,
  files: readonly string[],
  localDir: string,
): Promise<string[]> {
  if (!files.length) return [];
  // --hard-dereference: two names of one file come as two files, not as a link to follow.
  return fetchPacked(
    t,
    remoteDir,
    (tarFile) =>
      `${TAR_OK(`tar -cf ${tarFile} --hard-dereference --ignore-failed-read -C ${shq(remoteDir)} --null --verbatim-files-from -T -`)}; echo packed`,
    localDir,
    {},
    `${files.join("\0")}\0`,
  );
}

/**
 * The one way back from a node: `pack` (a script given the quoted path of the tar to
 * write beside remoteDir) makes the tar there and prints "packed" (nothing: nothing to
 * bring); the tar is copied here, unpacked into localDir, and removed on both sides.
 * Returns the files unpacked.
 */
async function fetchPacked(
  t: Transport,
  remoteDir: string,
  pack: (tarFile: string) => string,
  localDir: string,
  how: { keepNewer?: boolean },
  input?: string,
): Promise<string[]> {
  const remoteTar = `${remoteDir}.outgoing-${process.pid}.tar`;
  const tmp = mkdtempSync(path.join(os.tmpdir(), "dvc-fetch-"));
  try {
    const r = await t.run(pack(shq(remoteTar)), { timeoutMs: 600_000, input });
    if (!r.stdout.includes("packed")) return [];
    const local = path.join(tmp, "folder.tar");
    await t.get(remoteTar, local);
    mkdirSync(localDir, { recursive: true });
    const files: string[] = [];
    await tar.extract({
      file: local,
      cwd: localDir,
      newer: how.keepNewer ?? false,
      onReadEntry: (e) => void (e.type === "File" && files.push(e.path.replace(/^\.\//, ""))),
    });
    return files.sort();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await t.run(`rm -f ${shq(remoteTar)}`, { nothrow: true, timeoutMs: 60_000 });
  }
}

/**
 * A shell command that marks the start of a job in folder `dir`: marker touched, and any
 * file of dir dated after it (a host whose clock runs ahead of the node's: tar keeps the
 * sent files' own times) set to the marker's time, so that changedSince lists only what
 * the job itself wrote.
 */
export function markStart(dir: string, marker: string): string {
  return `touch ${shq(marker)} && find ${shq(dir)} ! -type d -newer ${shq(marker)} -exec touch -h -r ${shq(marker)} {} +`;
}

/**
 * The regular files of a node's folder created or changed after the marker (markStart),
 * with their sizes, __pycache__ left out; none when the folder or the marker is missing.
 */
export async function changedSince(
  t: Transport,
  dir: string,
  marker: string,
): Promise<Array<{ rel: string; bytes: number }>> {
  const r = await t.run(
    `[ -d ${shq(dir)} ] && [ -e ${shq(marker)} ] || exit 0; cd ${shq(dir)} && find . -name __pycache__ -prune -o -type f -newer ${shq(marker)} -printf '%s %P\\0'`,
    { timeoutMs: 600_000 },
  );
  return parseChanged(r.stdout);
}

/** find's `%s %P\0` lines: size, a space, the relative path (which may hold spaces and newlines). */
export function parseChanged(stdout: string): Array<{ rel: string; bytes: number }> {
  return stdout
    .split("\0")
    .map((entry) => /^(\d+) ([\s\S]+)$/.exec(entry))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ rel: m[2]!, bytes: Number(m[1]) }))
    .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}
