// Entry point of `npm run exec`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/exec.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/exec.js";

await runCli(() => cli(process.argv.slice(2)));
