// The one description of cluster.config.json: a TypeBox schema that is real JSON Schema
// (published as stacks/cluster.config.schema.json for editors, validated by ajv with
// defaults) and, through Static<>, the TypeScript type of the validated config.
import { Type, type Static, type TSchema, type SchemaOptions } from "@sinclair/typebox";

/** A string limited to the given values, as a plain JSON Schema enum (clear ajv errors). */
function StringEnum<T extends string>(values: readonly T[], options: SchemaOptions = {}): TSchema & { static: T } {
  return Type.Unsafe<T>({ type: "string", enum: [...values], ...options });
}

export const PROVIDERS = ["virtualbox", "libvirt", "local", "ssh"] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export const PLATFORMS = ["x86_64", "aarch64"] as const;
export type Platform = (typeof PLATFORMS)[number];

export const WORKLOADS = ["inc-sleep", "map-reduce", "placement", "svd", "svd-ratings"] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

const strict = { additionalProperties: false } as const;

/**
 * One requirement of runtime.packages: a PEP 508 name, optional extras, optional version
 * clauses. No URL, file path, environment marker or pip option: the nodes install
 * wheels of one locked Python and platform, offline.
 */
export const REQUIREMENT_PATTERN =
  "^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?( *\\[ *[A-Za-z0-9._-]+( *, *[A-Za-z0-9._-]+)* *\\])?( *(===|==|!=|~=|<=|>=|<|>) *[A-Za-z0-9.*+!_-]+( *, *(===|==|!=|~=|<=|>=|<|>) *[A-Za-z0-9.*+!_-]+)*)? *$";

const NodeOverride = Type.Object(
  {
    name: Type.String({ description: "Which node this override is for, e.g. node2." }),
    cpus: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 64, description: "vCPUs for this node (default: nodes.cpus)." }),
    ),
    memoryMb: Type.Optional(
      Type.Integer({
        minimum: 256,
        maximum: 262144,
        description: "Memory in MiB for this node (default: nodes.memoryMb).",
      }),
    ),
    ip: Type.Optional(
      Type.String({
        format: "ipv4",
        description: "Private IP for this node (default: derived from network.subnet and network.firstHost).",
      }),
    ),
  },
  { ...strict, description: "Settings for one node that differ from the defaults in nodes." },
);

/** Service managers a node of provider ssh may run its services with (see ssh.serviceManager). */
export const SSH_SERVICE_MANAGERS = ["auto", "systemd-user", "supervisor", "systemd"] as const;

const SshHost = Type.Object(
  {
    address: Type.String({
      minLength: 1,
      pattern: "^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$",
      description: "How this computer reaches the host: an IPv4 address or a DNS name.",
    }),
    user: Type.String({
      pattern: "^[a-z_][a-z0-9_.-]{0,31}$",
      description: "The user that logs in and runs the runtime there (no root needed).",
    }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: "ssh port (default: 22)." })),
    identityFile: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "Private key for this host, relative to this file or absolute (default: ssh's own keys and agent).",
      }),
    ),
    bind: Type.Optional(
      Type.String({
        format: "ipv4",
        description:
          "The host's own IPv4 address Dask binds to and the other hosts reach (default: address, when it is an IPv4 address); give it when the host has several.",
      }),
    ),
    root: Type.Optional(
      Type.String({
        pattern: "^(/(?!\\.\\.?(/|$))[A-Za-z0-9._@+=,-]+)+$",
        title: "an absolute folder of letters, digits and ._@+=,- (no space, no .. part)",
        description:
          "Absolute folder of the runtime on this host (default: /home/<user>/.dask-vm-cluster/<cluster name>, /root/... for root).",
      }),
    ),
  },
  { ...strict, description: "One machine of provider ssh: node K is the K-th host." },
);

export const ClusterConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: "Path or URL of this schema, for editor help." })),
    name: Type.String({
      default: "dask",
      pattern: "^[a-z][a-z0-9]{0,11}$",
      description:
        "Short cluster name, used in VM, namespace and network names (lowercase letters and digits, 1-12, starting with a letter).",
    }),
    provider: StringEnum(PROVIDERS, {
      default: "virtualbox",
      description:
        "Where nodes run: virtualbox (Vagrant + VirtualBox VMs), libvirt (Vagrant + vagrant-libvirt VMs), local (network namespaces on this Linux host, needs root) or ssh (machines you already have, listed in ssh.hosts).",
    }),
    nodes: Type.Object(
      {
        count: Type.Integer({
          default: 3,
          minimum: 1,
          maximum: 16,
          description:
            "Number of nodes, named <namePrefix>1..<namePrefix>N. Node 1 runs the scheduler; every node runs a worker.",
        }),
        namePrefix: Type.String({
          default: "node",
          pattern: "^[a-z][a-z0-9]{0,7}$",
          description: "Prefix of node names.",
        }),
        cpus: Type.Integer({ default: 1, minimum: 1, maximum: 64, description: "vCPUs per node." }),
        memoryMb: Type.Integer({
          default: 2048,
          minimum: 256,
          maximum: 262144,
          description:
            "Memory per node in MiB. Default: by this computer's total memory, for nodes on it (under 5 GiB 768, under 13 GiB 1024, under 28 GiB 2048, else 4096), so a default fits the host and stays the same from deploy to deploy; 2048 for provider ssh.",
        }),
        overrides: Type.Array(NodeOverride, {
          default: [],
          description: "Per-node settings that differ from the defaults above.",
        }),
      },
      { ...strict, default: {}, description: "The nodes of the cluster." },
    ),
    ssh: Type.Object(
      {
        hosts: Type.Array(SshHost, {
          default: [],
          maxItems: 64,
          description: "The machines, in order: node1 is the first (it runs the scheduler).",
        }),
        knownHosts: Type.String({
          default: "",
          description:
            "known_hosts file holding the hosts' keys, relative to this file or absolute (default: ~/.ssh/known_hosts); keys are checked, never added.",
        }),
        serviceManager: StringEnum(SSH_SERVICE_MANAGERS, {
          default: "auto",
          description:
            "How services run on the hosts: systemd-user (the user's own systemd, with lingering), supervisor (the runtime's, as the user), systemd (system units, needs sudo: true), or auto (systemd-user where it can outlive the login, else supervisor).",
        }),
        sudo: Type.Boolean({
          default: false,
          description: "Whether the runtime may use sudo -n on the hosts (only for serviceManager systemd).",
        }),
      },
      {
        ...strict,
        default: {},
        description:
          "Machines you already have (provider ssh): reached with ssh, nothing created or destroyed at the machine level.",
      },
    ),
    box: Type.Object(
      {
        name: Type.String({
          default: "debian/bookworm64",
          minLength: 1,
          description: "Vagrant box for VM providers. It must have Python matching runtime.python.",
        }),
        version: Type.String({
          default: "",
          description: "Box version constraint, e.g. '>= 12.20240905.1'; empty means any.",
        }),
        url: Type.String({ default: "", description: "Optional box URL or file path (for a box built locally)." }),
      },
      { ...strict, default: {}, description: "The Vagrant box (VM providers only)." },
    ),
    network: Type.Object(
      {
        subnet: Type.String({
          default: "192.168.56.0/24",
          pattern: "^\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}$",
          description:
            "Private network in CIDR form. VirtualBox allows only 192.168.56.0/21 unless /etc/vbox/networks.conf says more.",
        }),
        firstHost: Type.Integer({
          default: 11,
          minimum: 2,
          maximum: 65000,
          description:
            "Host number of node 1 inside the subnet; node K gets firstHost + K - 1. Never 1: the host adapter takes .1.",
        }),
      },
      { ...strict, default: {}, description: "The private network the nodes share." },
    ),
    runtime: Type.Object(
      {
        python: Type.String({
          default: "3.11",
          pattern: "^3\\.\\d{1,2}$",
          description: "Python major.minor on every node; the runtime lock is made for it.",
        }),
        platform: StringEnum(PLATFORMS, {
          default: "x86_64",
          description: "CPU architecture of the nodes: x86_64, or aarch64 for Apple Silicon hosts.",
        }),
        packages: Type.Array(
          Type.String({
            pattern: REQUIREMENT_PATTERN,
            title: "a package name, optional [extras], optional version bounds (no URL, path or marker)",
            description:
              "A package name with optional extras and version bounds, e.g. pandas>=2 or scikit-learn[examples]==1.7.2 (no URL, path or marker).",
          }),
          {
            default: [],
            uniqueItems: true,
            maxItems: 64,
            description:
              'Extra Python packages for your own code, e.g. ["pandas>=2", "scikit-learn"]: locked with hashes beside this file (cluster.config.lock, commit it), bundled with the runtime, installed offline on every node and held to the same versions by the version gate.',
          },
        ),
      },
      { ...strict, default: {}, description: "The bundled Python runtime." },
    ),
    dask: Type.Object(
      {
        threadsPerWorker: Type.Integer({
          default: 0,
          minimum: 0,
          maximum: 256,
          description: "Threads per worker; 0 means the node's cpus.",
        }),
        memoryLimitMb: Type.Integer({
          default: 0,
          minimum: 0,
          maximum: 262144,
          description: "Worker memory limit in MiB; 0 means node memory minus 512 MiB for the OS (at least 256).",
        }),
        schedulerPort: Type.Integer({
          default: 8786,
          minimum: 1024,
          maximum: 65535,
          description: "Scheduler port on node 1.",
        }),
        dashboardPort: Type.Integer({
          default: 8787,
          minimum: 1024,
          maximum: 65535,
          description: "Scheduler dashboard port on node 1.",
        }),
        workerPort: Type.Integer({
          default: 8788,
          minimum: 1024,
          maximum: 65535,
          description: "Worker port on every node.",
        }),
        nannyPort: Type.Integer({
          default: 8789,
          minimum: 1024,
          maximum: 65535,
          description: "Nanny (worker supervisor) port on every node.",
        }),
        workerDashboardPort: Type.Integer({
          default: 8790,
          minimum: 1024,
          maximum: 65535,
          description: "Worker dashboard port on every node.",
        }),
        tls: Type.Boolean({ default: true, description: "Mutual TLS between scheduler, workers and clients." }),
        allowedFailures: Type.Integer({
          default: 3,
          minimum: 0,
          maximum: 20,
          description: "How many workers a task may kill before it fails with KilledWorker.",
        }),
      },
      { ...strict, default: {}, description: "Dask scheduler and worker settings." },
    ),
    benchmark: Type.Object(
      {
        onDeploy: Type.Boolean({ default: true, description: "Run the benchmark as the last stage of cdktf deploy." }),
        workloads: Type.Array(StringEnum(WORKLOADS), {
          default: [...WORKLOADS],
          minItems: 1,
          uniqueItems: true,
          description: "Workloads to run: inc-sleep, map-reduce, placement, svd, svd-ratings.",
        }),
        size: StringEnum(["small", "full"] as const, {
          default: "full",
          description: "small finishes in about a minute (tests); full gives the figures of the report.",
        }),
        repeats: Type.Integer({
          default: 1,
          minimum: 1,
          maximum: 20,
          description: "Repeats of each measurement (the best is reported, all are kept).",
        }),
        seed: Type.Integer({ default: 42, minimum: 0, description: "Random seed of every generated input." }),
      },
      { ...strict, default: {}, description: "The benchmark suite." },
    ),
  },
  {
    ...strict,
    $id: "https://dask-vm-cluster.dev/cluster.config.schema.json",
    title: "dask-vm-cluster configuration",
    description: "cluster.config.json: every field is optional; the defaults describe 3 VirtualBox VMs.",
  },
);

export type ClusterConfig = Static<typeof ClusterConfigSchema>;
export type NodeOverrideConfig = Static<typeof NodeOverride>;
export type SshHostConfig = Static<typeof SshHost>;
