// Entry point of `npm run stop`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/lifecycle.ts.
import { runCli } from "./core/errors.js";
import { stopCli } from "./commands/lifecycle.js";

await runCli(() => stopCli(process.argv.slice(2)));
