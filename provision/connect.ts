// Entry point of `npm run connect`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/connect.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/connect.js";

await runCli(() => cli(process.argv.slice(2)));
