// The installers a student needs before this project runs, by the names their download
// pages give them (nodejs.org, releases.hashicorp.com, github.com/opentofu, virtualbox.org):
// `npm run kit -- check` looks for them in a classroom kit's tools/ folder, per computer.

export interface Installer {
  readonly tool: string;
  /** The file names of its downloads for that computer. */
  readonly pattern: RegExp;
  readonly example: string;
}

/** The installers a computer (process.platform, process.arch) needs for a provider. */
export function installersFor(platform: string, arch: string, provider: string): Installer[] {
  const tfOs = platform === "win32" ? "windows" : platform;
  const tfArch = arch === "x64" ? "amd64" : arch;
  const node =
    platform === "win32"
      ? { pattern: new RegExp(`^node-v2[246]\\.[\\d.]+-${arch}\\.msi$`), example: `node-v26.12.1-${arch}.msi` }
      : platform === "darwin"
        ? { pattern: /^node-v2[246]\.[\d.]+\.pkg$/, example: "node-v26.12.1.pkg" }
        : {
            pattern: new RegExp(`^node-v2[246]\\.[\\d.]+-linux-${arch}\\.tar\\.xz$`),
            example: `node-v26.12.1-linux-${arch}.tar.xz`,
          };
  const tools = [
    { tool: "Node.js (22, 24 or 26)", ...node },
    {
      tool: "Terraform or OpenTofu",
      pattern: new RegExp(`^(terraform|tofu)_[\\d.]+_${tfOs}_${tfArch}\\.zip$`),
      example: `terraform_1.14.1_${tfOs}_${tfArch}.zip`,
    },
  ];
  if (provider === "virtualbox" || provider === "libvirt")
    tools.push({
      tool: "Vagrant",
      // HashiCorp builds Vagrant for Windows on amd64 only; macOS and Linux per architecture.
      pattern:
        platform === "win32"
          ? /^vagrant_[\d.]+_windows_amd64\.msi$/
          : platform === "darwin"
            ? new RegExp(`^vagrant_[\\d.]+_darwin_(${tfArch}|universal)\\.dmg$`)
            : new RegExp(`^vagrant(_[\\d.]+-1_${tfArch}\\.deb|_[\\d.]+_linux_${tfArch}\\.zip)$`),
      example:
        platform === "win32"
          ? "vagrant_2.4.9_windows_amd64.msi"
          : platform === "darwin"
            ? `vagrant_2.4.9_darwin_${tfArch}.dmg`
            : `vagrant_2.4.9-1_${tfArch}.deb`,
    });
  if (provider === "virtualbox")
    tools.push({
      tool: "VirtualBox 7",
      pattern:
        platform === "win32"
          ? /^VirtualBox-7[\d.]+-\d+-Win[\w-]*\.exe$/
          : platform === "darwin"
            ? arch === "arm64"
              ? /^VirtualBox-7[\d.]+-\d+-macOSArm64\.dmg$/
              : /^VirtualBox-7[\d.]+-\d+-OSX\.dmg$/
            : new RegExp(`^virtualbox-7\\.\\d+_7[\\d.]+-\\d+~\\w+~\\w+_${tfArch}\\.deb$`),
      example:
        platform === "win32"
          ? "VirtualBox-7.2.4-170995-Win.exe"
          : platform === "darwin"
            ? arch === "arm64"
              ? "VirtualBox-7.2.4-170995-macOSArm64.dmg"
              : "VirtualBox-7.2.4-170995-OSX.dmg"
            : `virtualbox-7.2_7.2.4-170995~Debian~bookworm_${tfArch}.deb`,
    });
  return tools;
}
