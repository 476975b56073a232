// Entry point of `npm run ssh -- node2`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/ssh.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/ssh.js";

await runCli(() => cli(process.argv.slice(2)));
