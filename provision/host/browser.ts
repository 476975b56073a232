// Opening a URL in the user's browser, where there is one: the dashboard and JupyterLab.
import type { Host } from "./host.js";

/** Opens a URL with the desktop's opener; nothing where there is no desktop (CI, ssh sessions). */
export function openBrowser(host: Host, url: string): void {
  const hasDisplay = host.platform !== "linux" || Boolean(host.env.DISPLAY || host.env.WAYLAND_DISPLAY);
  if (!hasDisplay || host.env.CI) return;
  // Windows: "start" is a cmd.exe built-in, so explorer.exe opens the URL instead.
  const argv =
    host.platform === "darwin" ? ["open", url] : host.platform === "win32" ? ["explorer.exe", url] : ["xdg-open", url];
  void host.run(argv, { timeoutMs: 10_000 });
}
