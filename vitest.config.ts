// Test runner settings. Tiers by file name: *.local.test.ts need root (namespaces, real
// clusters), *.integration.test.ts need the network or real runtimes (PyPI wheels, Dask,
// Go builds), *.libvirt.test.ts need real VMs, *.qemu.test.ts run arm64 Node under qemu-user;
// every other file is the fast hermetic tier.
//   npm test            every tier but the VMs, one file at a time (2 cores; the cluster
//                       suites share host resources such as namespaces)
//   npm run test:unit   the fast tier only (vitest --mode unit), files in parallel
//   npm run test:vm     the real-VM suite (vitest --mode vm; 20+ min under emulation)
//   npm run test:tofu   the lifecycle suite with the OpenTofu npm run setup -- --with-tofu built
//   npm run test:arm64  linux-arm64 x Node 22/24/26 under qemu-user (vitest --mode arm64; about 7 min warm)
// The tier is vitest's --mode, not an environment variable: npm runs scripts with cmd.exe
// on Windows, where `X=1 cmd` does not set X.
import { existsSync } from "node:fs";
import { defineConfig, configDefaults } from "vitest/config";
import { builtTofu } from "./provision/host/toolchain.js";

const vm = "test/vm.libvirt.test.ts";
const arm64 = "test/node-arm64.qemu.test.ts";
const heavy = ["test/**/*.local.test.ts", "test/**/*.integration.test.ts", "test/**/*.libvirt.test.ts"];

export default defineConfig(({ mode }) => {
  const tier = mode === "unit" || mode === "vm" || mode === "tofu" || mode === "arm64" ? mode : "all";
  const tofu = builtTofu(process.env);
  if (tier === "tofu" && !existsSync(tofu))
    throw new Error(`${tofu} is missing: build it first with npm run setup -- --with-tofu`);
  return {
    test: {
      include:
        tier === "vm"
          ? [vm]
          : tier === "arm64"
            ? [arm64]
            : tier === "tofu"
              ? ["test/lifecycle.local.test.ts"]
              : ["test/**/*.test.ts"],
      env: tier === "tofu" ? { TERRAFORM_BINARY_NAME: tofu } : {},
      exclude:
        tier === "unit"
          ? [...configDefaults.exclude, ...heavy, arm64]
          : tier === "vm" || tier === "arm64"
            ? [...configDefaults.exclude]
            : [...configDefaults.exclude, vm, arm64],
      globalSetup: ["test/helpers/global-setup.ts"],
      testTimeout: 300_000,
      hookTimeout: 600_000,
      fileParallelism: tier === "unit",
      reporters: ["default"],
    },
  };
});
