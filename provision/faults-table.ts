// Entry point of `npx tsx provision/faults-table.ts`: always runs (whatever path or link the
// checkout is reached through); the command itself is provision/commands/faults-table.ts.
import { runCli } from "./core/errors.js";
import { cli } from "./commands/faults-table.js";

await runCli(() => cli(process.argv.slice(2)));
