// The layers of provision/, checked by dependency-cruiser in `npm run lint` (README: "The map
// of the code"). A folder may import its own files and the layers below it, never one above:
//
//   core < host < machines < config < runtime < services < state < bench < stages < commands
//
// stacks/ (the CDK for Terraform app) stands beside stages/ and may use any layer but
// commands/; the entry points at the top of provision/ (cli.ts, stage.ts, launch.mjs) may use
// any. No file may take part in an import circle, type-only imports included: a type that
// two layers share belongs in the lower one.
const LAYERS = ["core", "host", "machines", "config", "runtime", "services", "state", "bench", "stages", "commands"];

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `provision/${layer}/ is below ${LAYERS.slice(i + 1).join(", ")}: it may not import them (move the shared part down, or pass it in)`,
  severity: "error",
  from: { path: `^provision/${layer}/` },
  to: { path: `^(provision/(${LAYERS.slice(i + 1).join("|")})/|stacks/|provision/[^/]+\\.(ts|mjs)$)` },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "an import circle: the files in it cannot be understood, tested or moved one at a time",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    {
      name: "stacks-not-commands",
      comment: "the stack is what cdktf synthesises: it may not import the npm run commands",
      severity: "error",
      from: { path: "^stacks/" },
      to: { path: "^provision/(commands/|cli\\.ts$)" },
    },
    {
      name: "product-not-tests",
      comment: "shipped code never imports the tests or their helpers",
      severity: "error",
      from: { path: "^(provision|stacks)/" },
      to: { path: "^test/" },
    },
    {
      name: "not-to-unresolvable",
      comment: "an import that resolves to no file",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".mts", ".mjs", ".js", ".d.mts"],
    },
    includeOnly: "^(provision|stacks)/",
  },
};
