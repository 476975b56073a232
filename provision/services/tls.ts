// Mutual TLS material for the cluster: a CA, one certificate per node (its private IP
// and name in the SAN, for server and client use) and one client certificate, all ECDSA
// P-256 through WebCrypto. Written 0600 into .cluster/tls, never into Terraform state.
import { existsSync } from "node:fs";
import { webcrypto } from "node:crypto";
import { mkdir, writeFile, chmod } from "node:fs/promises";
import path from "node:path";
import type * as X509 from "@peculiar/x509";
import type { NodeSpec } from "../core/model.js";

let x509Module: Promise<typeof X509> | undefined;
/**
 * @peculiar/x509, loaded the first time a certificate is made: most processes that import
 * this module only need the file names, and the library costs 0.15 s to load.
 */
function x509Lib(): Promise<typeof X509> {
  x509Module ??= import("@peculiar/x509").then((m) => {
    m.cryptoProvider.set(webcrypto as unknown as Crypto);
    return m;
  });
  return x509Module;
}

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export interface Pem {
  readonly cert: string;
  readonly key: string;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const x509 = await x509Lib();
  const der = await webcrypto.subtle.exportKey(
    "pkcs8",
    key as unknown as Parameters<typeof webcrypto.subtle.exportKey>[1],
  );
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString("hex")
    .replace(/^[89a-f]/, "1");
}

export async function createCa(commonName: string, days = 825): Promise<Pem & { keys: CryptoKeyPair }> {
  const x509 = await x509Lib();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + days * DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey), keys };
}

export async function issue(
  ca: { cert: string; keys: CryptoKeyPair },
  commonName: string,
  ips: readonly string[],
  days = 825,
): Promise<Pem> {
  const x509 = await x509Lib();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const caCert = new x509.X509Certificate(ca.cert);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${commonName}`,
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + days * DAY),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: commonName },
        ...ips.map((ip) => ({ type: "ip" as const, value: ip })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) };
}

/** Files in the host's TLS folder for a node, a client, or the CA. */
export function tlsFiles(dir: string, who: string) {
  return { cert: path.join(dir, `${who}.pem`), key: path.join(dir, `${who}-key.pem`) };
}

async function writeSecret(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
}

/** Every file of the cluster's material: the CA, each node's pair, the client's pair. */
export function clusterTlsFiles(dir: string, nodes: readonly NodeSpec[]): string[] {
  return ["ca", ...nodes.map((n) => n.name), "client"].flatMap((name) => Object.values(tlsFiles(dir, name)));
}

/**
 * Makes a fresh CA, a certificate per node and a client certificate in dir, unless dir
 * already holds all of them: a repair (a node made again after a reboot) copies the same
 * material again, so the scheduler and the other workers keep trusting it. When the nodes
 * change, the stage is replaced and its destroy removes dir first: every certificate then
 * changes with the CA. Returns the files written (none when they were all there).
 */
export async function ensureClusterTls(dir: string, clusterId: string, nodes: readonly NodeSpec[]): Promise<string[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  if (clusterTlsFiles(dir, nodes).every((f) => existsSync(f))) return [];
  const caFiles = tlsFiles(dir, "ca");
  const written: string[] = [];
  const ca = await createCa(`dask-vm-cluster CA ${clusterId}`);
  await writeSecret(caFiles.cert, ca.cert);
  await writeSecret(caFiles.key, ca.key);
  written.push(caFiles.cert, caFiles.key);
  for (const n of nodes) {
    const pem = await issue(ca, n.name, [n.ip, "127.0.0.1"]);
    const f = tlsFiles(dir, n.name);
    await writeSecret(f.cert, pem.cert);
    await writeSecret(f.key, pem.key);
    written.push(f.cert, f.key);
  }
  const client = await issue(ca, "client", []);
  const cf = tlsFiles(dir, "client");
  await writeSecret(cf.cert, client.cert);
  await writeSecret(cf.key, client.key);
  written.push(cf.cert, cf.key);
  return written;
}
