// Test runner settings: the lifecycle suites run real Terraform, namespaces and Dask, one
// file at a time (2 cores; they share host resources such as namespaces). The
// fault-injection suite (kills, link cuts, interrupted deploys; about 7 min) is part of
// npm test; npm run test:faults runs it alone.
import { defineConfig, configDefaults } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: [...configDefaults.exclude],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    reporters: ["default"],
  },
});
