// Entry point of `npm run bench:deploy`: always runs (whatever path or link the checkout is
// reached through); the command itself is provision/commands/bench-deploy.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/bench-deploy.js";

await runCli(() => cli(process.argv.slice(2)));
