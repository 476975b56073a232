// Entry point of `npm run docs`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/docs.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/docs.js";

await runCli(() => cli(process.argv.slice(2)));
