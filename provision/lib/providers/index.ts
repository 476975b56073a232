// Picks the machine layer for a provider name; the one place that knows all three.
import type { ProviderName } from "../config-schema.js";
import type { MachineProvider } from "./provider.js";

export async function providerFor(name: ProviderName): Promise<MachineProvider> {
  switch (name) {
    case "local":
      return new (await import("./local.js")).LocalProvider();
    case "virtualbox":
      return (await import("./virtualbox.js")).virtualboxProvider();
    case "libvirt":
      return (await import("./libvirt.js")).libvirtProvider();
  }
}
