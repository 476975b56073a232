// Entry point of `npm run demo`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/demo.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/demo.js";

await runCli(() => cli(process.argv.slice(2)));
