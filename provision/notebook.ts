// Entry point of `npm run notebook`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/notebook.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/notebook.js";

await runCli(() => cli(process.argv.slice(2)));
