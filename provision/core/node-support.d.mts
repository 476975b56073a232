// Types of provision/core/node-support.mjs (plain JavaScript: launch.mjs imports it before
// anything is compiled).
export interface NodeLine {
  readonly major: number;
  readonly min: string;
}
export const SUPPORTED_NODE_LINES: readonly NodeLine[];
export const RECOMMENDED_NODE_LINE: number;
export function enginesRange(): string;
export function nodeSupportIssue(version: string): { readonly problem: string; readonly fix: string } | undefined;
export function nodeSupportProblem(version: string): string | undefined;
export function requireSupportedNode(version?: string, env?: NodeJS.ProcessEnv): void;
