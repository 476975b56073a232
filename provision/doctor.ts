// Entry point of `npm run doctor`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/doctor.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/doctor.js";

await runCli(() => cli(process.argv.slice(2)));
