// Entry point of `npm run data`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/data.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/data.js";

await runCli(() => cli(process.argv.slice(2)));
