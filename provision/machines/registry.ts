// Picks the machine layer for a provider name: the one place that knows them all.
import type { ProviderName } from "../core/config-schema.js";
import type { Host } from "../host/host.js";
import { LIBVIRT_CAPABILITIES, libvirtProvider } from "./libvirt/provider.js";
import { LOCAL_CAPABILITIES, LocalProvider } from "./local/provider.js";
import type { MachineProvider, ProviderCapabilities } from "./provider.js";
import { SSH_CAPABILITIES, SshProvider } from "./ssh/provider.js";
import { VIRTUALBOX_CAPABILITIES, virtualboxProvider } from "./virtualbox/provider.js";

/** What each provider can do, for the stack (which orders stages by it) without a host. */
export const CAPABILITIES: Readonly<Record<ProviderName, ProviderCapabilities>> = {
  local: LOCAL_CAPABILITIES,
  virtualbox: VIRTUALBOX_CAPABILITIES,
  libvirt: LIBVIRT_CAPABILITIES,
  ssh: SSH_CAPABILITIES,
};

export function providerFor(name: ProviderName, host: Host): MachineProvider {
  switch (name) {
    case "local":
      return new LocalProvider(host);
    case "virtualbox":
      return virtualboxProvider(host);
    case "libvirt":
      return libvirtProvider(host);
    case "ssh":
      return new SshProvider(host);
  }
}
