// Entry point of `npm run benchmark` and the deploy's final stage: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/benchmark.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/benchmark.js";

await runCli(() => cli(process.argv.slice(2)));
