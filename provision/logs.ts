// Entry point of `npm run logs -- [node] [scheduler|worker] [--follow] [--lines N]`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/logs.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/logs.js";

await runCli(() => cli(process.argv.slice(2)));
