// Entry point of `npm run dashboard`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/dashboard.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/dashboard.js";

await runCli(() => cli(process.argv.slice(2)));
