// Entry point of `npm run verify-versions`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/verify-versions.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/verify-versions.js";

await runCli(() => cli(process.argv.slice(2)));
