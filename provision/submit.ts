// Entry point of `npm run submit`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/submit.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/submit.js";

await runCli(() => cli(process.argv.slice(2)));
