// Dotted version numbers as programs print them ("Vagrant 2.3.4", "7.0.14r161095",
// "v20.20.2"): the one parser and comparison every check uses.

/** Numeric parts of the first dotted version in a text: "Vagrant 2.3.4" -> [2, 3, 4]. */
export function parseVersion(text: string): number[] | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** "2.3.4" -> [2, 3, 4]; non-numeric parts count as 0. */
export function versionParts(v: string): number[] {
  return v.split(".").map((p) => Number.parseInt(p, 10) || 0);
}

export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function atLeast(v: readonly number[], min: readonly number[]): boolean {
  return compareVersions(v, min) >= 0;
}

/** [2, 3, 4] -> "2.3.4"; with parts = 2, "2.3". */
export function versionText(v: readonly number[], parts = v.length): string {
  return v.slice(0, parts).join(".");
}
