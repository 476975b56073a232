// The root tier (*.local.test.ts): suites that create network namespaces or mount points.
// Run without root they are skipped, and say so and why on the test output.

/** Whether this process is root; when not, prints "<suite>: skipped: <why>". */
export function rootOrSkip(suite: string, why: string): boolean {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) console.log(`${suite}: skipped: ${why}`);
  return isRoot;
}
