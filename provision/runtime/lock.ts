// A hashed pip requirements lock, read: its header (Python, platform) and every pin with its
// hashes. The bundle, the wheel fetcher and the version gate read locks through it.

/** A distribution's name as PEP 503 compares them: lower case, runs of -_. as one -. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

export interface LockEntry {
  /** PEP 503 normalised name, as in the lock. */
  readonly name: string;
  readonly version: string;
  readonly hashes: readonly string[];
}

export interface ParsedLock {
  /** major.minor from the "# python-version:" header line, if present. */
  readonly python?: string;
  /** From the "# platform:" header line, if present. */
  readonly platform?: string;
  readonly entries: readonly LockEntry[];
}

/** Reads a hashed pip requirements lock: header fields, and name==version with its hashes. */
export function parseLock(text: string): ParsedLock {
  let python: string | undefined;
  let platform: string | undefined;
  const entries: LockEntry[] = [];
  const logical = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  for (const raw of logical) {
    const line = raw.trim();
    const header = /^#\s*(python-version|platform):\s*(\S+)/.exec(line);
    if (header) {
      if (header[1] === "python-version") python ??= header[2];
      else platform ??= header[2];
      continue;
    }
    if (!line || line.startsWith("#")) continue;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)/.exec(line);
    if (!m) continue;
    const hashes = [...line.matchAll(/--hash=sha256:([0-9a-f]{64})/g)].map((h) => h[1]!);
    entries.push({ name: normalizeName(m[1]!), version: m[2]!, hashes });
  }
  return { python, platform, entries };
}
