// Entry point of `npx tsx provision/lock.ts [--python 3.11] [--platform x86_64|aarch64|all] [--upgrade]`: always runs (whatever path or link the checkout
// is reached through); the command itself is provision/commands/lock.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/lock.js";

await runCli(() => cli(process.argv.slice(2)));
