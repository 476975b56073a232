// Which Node.js lines this project supports, and the one line an unsupported Node gets
// instead of a stack trace. Plain JavaScript on purpose: provision/launch.mjs (what cdktf's
// app and every stage start through) checks before anything is compiled, and every CLI's
// runCli checks before its command runs. package.json's "engines" is derived from the same
// list (test/node-support.test.ts keeps the two equal), and .npmrc's engine-strict makes
// `npm install` refuse an unsupported Node before anything is installed.
//
// The lines: the maintained LTS lines of December 2026. Node 20 reached its end of life in
// April 2026; odd lines are never LTS and end six months after their release; a newer even
// line is supported once it has run the project's Node matrix (test/node-lines.local.test.ts).

/** Supported major lines and the first release of each that the project runs on. */
export const SUPPORTED_NODE_LINES = Object.freeze([
  Object.freeze({ major: 22, min: "22.12.0" }),
  Object.freeze({ major: 24, min: "24.0.0" }),
  Object.freeze({ major: 26, min: "26.0.0" }),
]);

/** The current LTS line, the one to recommend. */
export const RECOMMENDED_NODE_LINE = 26;

/** The npm "engines.node" range these lines make. */
export function enginesRange() {
  return SUPPORTED_NODE_LINES.map((l) => `^${l.min}`).join(" || ");
}

const parts = (v) => v.replace(/^v/, "").split(".").map((p) => Number.parseInt(p, 10) || 0);

/**
 * What is wrong with this Node version and how to fix it, or undefined when it can run the
 * project. `version` as process.version prints it ("v26.12.1").
 */
export function nodeSupportIssue(version) {
  const [major, minor, patch] = parts(version);
  const line = SUPPORTED_NODE_LINES.find((l) => l.major === major);
  const lines = SUPPORTED_NODE_LINES.map((l) => l.major).join(", ");
  const fix = `install Node.js ${RECOMMENDED_NODE_LINE} LTS (https://nodejs.org, or nvm install ${RECOMMENDED_NODE_LINE} / fnm use ${RECOMMENDED_NODE_LINE}), then run npm install again`;
  if (!line) {
    const why =
      major < SUPPORTED_NODE_LINES[0].major
        ? "it is past its end of life"
        : major % 2 === 1
          ? "odd Node lines are never LTS"
          : "this project has not been tried on it yet";
    return { problem: `is not supported (${why}); supported lines: ${lines}`, fix };
  }
  const [a, b, c] = parts(line.min);
  if (major === a && (minor < b || (minor === b && patch < c))) {
    return { problem: `is too old within its line: ${line.major} needs ${line.min} or newer`, fix: `update Node.js ${line.major}, or ${fix}` };
  }
  return undefined;
}

/** The same in one line, with the fix, or undefined when this Node can run the project. */
export function nodeSupportProblem(version) {
  const issue = nodeSupportIssue(version);
  return issue && `Node.js ${version} ${issue.problem}: ${issue.fix}`;
}

/** Exits with the one line when this Node is unsupported; DVC_ANY_NODE=1 lets it run anyway. */
export function requireSupportedNode(version = process.version, env = process.env) {
  const problem = nodeSupportProblem(version);
  if (!problem || env.DVC_ANY_NODE === "1") return;
  process.stderr.write(`error: ${problem} (DVC_ANY_NODE=1 runs it anyway, untested)\n`);
  process.exit(1);
}
