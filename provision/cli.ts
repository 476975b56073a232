// The one entry point of every `npm run` verb: package.json runs `tsx provision/cli.ts <verb>
// [args...]`, and this table hands the rest of the arguments to provision/commands/<verb>.ts.
// A verb's module is imported only when it runs, so each verb starts what it uses and no
// more. It always runs, whatever path or link the checkout is reached through (no guard
// comparing import.meta.url with argv[1]); an unknown verb is bad input (exit 2, the verbs
// as the fix).
import { closest } from "fastest-levenshtein";
import { badInput, runCli } from "./core/errors.js";

type Command = (argv: readonly string[]) => unknown;

/** Every verb, by its npm script name: the one place a new command is added (and package.json). */
const VERBS = {
  "bench-deploy": () => import("./commands/bench-deploy.js"),
  benchmark: () => import("./commands/benchmark.js"),
  chaos: () => import("./commands/chaos.js"),
  class: () => import("./commands/class.js"),
  connect: () => import("./commands/connect.js"),
  dashboard: () => import("./commands/dashboard.js"),
  data: () => import("./commands/data.js"),
  demo: () => import("./commands/demo.js"),
  diagnose: () => import("./commands/diagnose.js"),
  docs: () => import("./commands/docs.js"),
  doctor: () => import("./commands/doctor.js"),
  exec: () => import("./commands/exec.js"),
  "faults-table": () => import("./commands/faults-table.js"),
  kit: () => import("./commands/kit.js"),
  lab: () => import("./commands/lab.js"),
  lock: () => import("./commands/lock.js"),
  logs: () => import("./commands/logs.js"),
  notebook: () => import("./commands/notebook.js"),
  setup: () => import("./commands/setup.js"),
  ssh: () => import("./commands/ssh.js"),
  start: () => import("./commands/start.js"),
  status: () => import("./commands/status.js"),
  stop: () => import("./commands/stop.js"),
  submit: () => import("./commands/submit.js"),
  "verify-versions": () => import("./commands/verify-versions.js"),
} satisfies Record<string, () => Promise<{ cli: Command }>>;

type Verb = keyof typeof VERBS;

function isVerb(word: string): word is Verb {
  return Object.hasOwn(VERBS, word);
}

const [verb = "", ...rest] = process.argv.slice(2);
await runCli(async () => {
  if (!isVerb(verb)) {
    const verbs = Object.keys(VERBS);
    const near = verb ? closest(verb, verbs) : undefined;
    throw badInput(verb ? `unknown command "${verb}"` : "no command given", [
      {
        path: "command",
        message: verb ? `"${verb}" is not a command of this project` : "provision/cli.ts needs the command first",
        fix: `${near ? `did you mean "${near}"? ` : ""}one of: ${verbs.join(", ")} (npm run <command>)`,
      },
    ]);
  }
  const { cli } = await VERBS[verb]();
  return cli(rest);
});
