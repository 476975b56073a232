// Entry point of `npm run start`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/lifecycle.ts.
import { runCli } from "./core/errors.js";
import { startCli } from "./commands/lifecycle.js";

await runCli(() => startCli(process.argv.slice(2)));
