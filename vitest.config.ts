// Test runner settings: the lifecycle suites run real Terraform, namespaces and Dask, one
// file at a time (2 cores; they share host resources such as namespaces). The
// fault-injection suite (kills, link cuts, interrupted deploys; about 7 min) is part of
// npm test; npm run test:faults runs it alone. The real-VM suite (vagrant-libvirt, 20+ min
// under qemu emulation) runs only with npm run test:vm.
import { defineConfig, configDefaults } from "vitest/config";

const vm = "test/vm.libvirt.test.ts";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: process.env.DVC_TEST_VM === "1" ? [...configDefaults.exclude] : [...configDefaults.exclude, vm],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    reporters: ["default"],
  },
});
