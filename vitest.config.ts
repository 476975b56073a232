// Test runner settings: the lifecycle suites run real Terraform, namespaces and Dask, one
// file at a time (2 cores; they share host resources such as namespaces). The fault-
// injection suite (kills, link cuts, interrupted deploys; ~15 min) runs on its own with
// npm run test:faults, not in npm test. The real-VM suite (vagrant-libvirt, ~15 min under
// qemu emulation) runs on its own with npm run test:vm.
import { defineConfig, configDefaults } from "vitest/config";

const faults = "test/faults.local.test.ts";
const vm = "test/vm.libvirt.test.ts";
const own = [...(process.env.DVC_TEST_FAULTS === "1" ? [] : [faults]), ...(process.env.DVC_TEST_VM === "1" ? [] : [vm])];

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: [...configDefaults.exclude, ...own],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    reporters: ["default"],
  },
});
