// Test runner settings: the lifecycle suites run real Terraform, namespaces and Dask, one
// file at a time (2 cores; they share host resources such as namespaces). The fault-
// injection suite (kills, link cuts, interrupted deploys; ~15 min) runs on its own with
// npm run test:faults, not in npm test.
import { defineConfig, configDefaults } from "vitest/config";

const faults = "test/faults.local.test.ts";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: process.env.DVC_TEST_FAULTS === "1" ? [...configDefaults.exclude] : [...configDefaults.exclude, faults],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    reporters: ["default"],
  },
});
