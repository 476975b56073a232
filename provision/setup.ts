// Entry point of `npm run setup`: always runs (whatever path or link the checkout is
// reached through); the command itself is provision/commands/setup.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/setup.js";

await runCli(() => cli(process.argv.slice(2)));
