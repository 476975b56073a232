// Test runner settings: the lifecycle suites run real Terraform, namespaces and Dask, one
// file at a time (2 cores; they share host resources such as namespaces).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    reporters: ["default"],
  },
});
