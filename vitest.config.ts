// Test runner settings. Tiers by file name: *.local.test.ts need root (namespaces, real
// clusters), *.integration.test.ts need the network or real runtimes (PyPI wheels, Dask,
// Go builds), *.libvirt.test.ts need real VMs; every other file is the fast hermetic tier.
//   npm test            every tier but the VMs, one file at a time (2 cores; the cluster
//                       suites share host resources such as namespaces)
//   npm run test:unit   the fast tier only (vitest --mode unit), files in parallel
//   npm run test:vm     the real-VM suite (vitest --mode vm; 20+ min under emulation)
// The tier is vitest's --mode, not an environment variable: npm runs scripts with cmd.exe
// on Windows, where `X=1 cmd` does not set X.
import { defineConfig, configDefaults } from "vitest/config";

const vm = "test/vm.libvirt.test.ts";
const heavy = ["test/**/*.local.test.ts", "test/**/*.integration.test.ts", "test/**/*.libvirt.test.ts"];

export default defineConfig(({ mode }) => {
  const tier = mode === "unit" || mode === "vm" ? mode : "all";
  return {
    test: {
      include: tier === "vm" ? [vm] : ["test/**/*.test.ts"],
      exclude: tier === "unit" ? [...configDefaults.exclude, ...heavy] : tier === "vm" ? [...configDefaults.exclude] : [...configDefaults.exclude, vm],
      testTimeout: 300_000,
      hookTimeout: 600_000,
      fileParallelism: tier === "unit",
      reporters: ["default"],
    },
  };
});
