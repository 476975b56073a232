// Entry point of `npm run status`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/status.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/status.js";

await runCli(() => cli(process.argv.slice(2)));
