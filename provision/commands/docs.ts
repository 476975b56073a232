// `npm run docs`: everything users read about cluster.config.json, generated from the one
// schema (provision/core/config-schema.ts): stacks/cluster.config.schema.json for editors
// ("$schema": "./stacks/cluster.config.schema.json") and the configuration reference in
// README.md between the config-reference markers. `--check` writes nothing and exits 1
// naming each stale file, so CI fails when the schema changes without a regeneration.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ClusterConfigSchema } from "../core/config-schema.js";
import { UserError } from "../core/errors.js";
import { parseCli } from "../core/cli-args.js";
import { PROJECT_DIR } from "../host/paths.js";

/** Where the generated files live, relative to the project folder. */
export const SCHEMA_FILE = "stacks/cluster.config.schema.json";
export const README_FILE = "README.md";
export const START_MARKER = "<!-- config-reference:start -->";
export const END_MARKER = "<!-- config-reference:end -->";

/** The dialect ajv's default class speaks and editors understand. */
const DRAFT = "http://json-schema.org/draft-07/schema#";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type SchemaNode = { [key: string]: Json };

/**
 * Schema keywords in reading order; unknown keywords follow, sorted. Property maps keep
 * the declaration order of config-schema.ts, which is the order the reference documents.
 */
const KEYWORD_ORDER = [
  "$schema",
  "$id",
  "title",
  "description",
  "type",
  "format",
  "enum",
  "const",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "minItems",
  "maxItems",
  "uniqueItems",
  "default",
  "items",
  "properties",
  "required",
  "additionalProperties",
];

function orderKeys(keys: string[]): string[] {
  const rank = (k: string) => (KEYWORD_ORDER.includes(k) ? KEYWORD_ORDER.indexOf(k) : KEYWORD_ORDER.length);
  return [...keys].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A schema node as published: keys in a stable order (TypeBox's order follows how the
 * options happen to be spread), and `required` without the fields that have a default.
 * The file describes what a user writes, where every field may be left out; ajv with
 * useDefaults (provision/config/resolve.ts) fills them in before `required` is checked.
 */
function publish(node: SchemaNode): SchemaNode {
  const out: SchemaNode = {};
  const props = node.properties as Record<string, SchemaNode> | undefined;
  for (const key of orderKeys(Object.keys(node))) {
    const value = node[key]!;
    if (key === "properties" && props) {
      out.properties = Object.fromEntries(Object.entries(props).map(([name, sub]) => [name, publish(sub)]));
    } else if (key === "items" && value && typeof value === "object" && !Array.isArray(value)) {
      out.items = publish(value);
    } else if (key === "required" && Array.isArray(value)) {
      const required = value.filter((name) => typeof name === "string" && props?.[name]?.default === undefined);
      if (required.length) out.required = required;
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** The JSON Schema of cluster.config.json as a plain object (what the file holds). */
export function publishedSchema(): SchemaNode {
  // JSON round trip: drops TypeBox's symbol-keyed metadata and yields plain JSON values.
  const plain = JSON.parse(JSON.stringify(ClusterConfigSchema)) as SchemaNode;
  return publish({ $schema: DRAFT, ...plain });
}

/** The text of stacks/cluster.config.schema.json. */
export function renderSchemaJson(): string {
  return `${JSON.stringify(publishedSchema(), null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------
// The configuration reference
// ---------------------------------------------------------------------------------------

/** One documented field: its dotted path and schema, and whether it may be left out. */
interface Field {
  readonly path: string;
  readonly schema: SchemaNode;
  readonly required: boolean;
}

/** A table of the reference: an object of the schema and its fields. */
interface Section {
  /** Dotted path of the object ("" for the top level, "nodes.overrides[]" for list entries). */
  readonly path: string;
  readonly description: string;
  readonly fields: readonly Field[];
}

function isObjectSchema(s: SchemaNode | undefined): s is SchemaNode {
  return !!s && s.type === "object" && typeof s.properties === "object";
}

/** Every object of the schema, depth first in declaration order: one table each. */
function sections(schema: SchemaNode): Section[] {
  const out: Section[] = [];
  const visit = (node: SchemaNode, at: string) => {
    const props = node.properties as Record<string, SchemaNode>;
    const required = new Set((node.required as string[] | undefined) ?? []);
    const fields: Field[] = [];
    const nested: Array<[SchemaNode, string]> = [];
    for (const [name, sub] of Object.entries(props)) {
      const p = at ? `${at}.${name}` : name;
      if (isObjectSchema(sub)) nested.push([sub, p]);
      else fields.push({ path: p, schema: sub, required: required.has(name) });
      const items = sub.items as SchemaNode | undefined;
      if (sub.type === "array" && isObjectSchema(items)) nested.push([items, `${p}[]`]);
    }
    out.push({ path: at, description: String(node.description ?? ""), fields });
    for (const [sub, p] of nested) visit(sub, p);
  };
  visit(schema, "");
  return out;
}

/** Markdown table cell: no line breaks, no pipes, no raw HTML (descriptions say <namePrefix>). */
function cell(text: string): string {
  return text
    .replace(/\s*\n\s*/g, " ")
    .replace(/\|/g, "\\|")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

/** Inline code that survives any content (backticks inside get a longer fence). */
function code(text: string): string {
  const fence = text.includes("`") ? "``" : "`";
  return `${fence}${text.includes("`") ? ` ${text} ` : text}${fence}`;
}

function typeOf(s: SchemaNode): string {
  if (s.type === "array") {
    const items = s.items as SchemaNode | undefined;
    return `array of ${items ? typeOf(items) : "any"}`;
  }
  return typeof s.type === "string" ? s.type : "any";
}

function defaultOf(f: Field): string {
  if (f.schema.default !== undefined) return code(JSON.stringify(f.schema.default));
  return f.required ? "required" : "—";
}

/** How the formats the schema uses read in prose; others are named as they are. */
const FORMATS: Readonly<Record<string, string>> = { ipv4: "an IPv4 address" };

/** Allowed values and ranges, from the schema's validation keywords. */
function allowedOf(s: SchemaNode, at: string): string {
  const parts: string[] = [];
  if (Array.isArray(s.enum)) parts.push(`one of ${s.enum.map((v) => code(JSON.stringify(v))).join(", ")}`);
  if (s.type === "boolean") parts.push(`${code("true")} or ${code("false")}`);
  const min = typeof s.minimum === "number" ? s.minimum : undefined;
  const max = typeof s.maximum === "number" ? s.maximum : undefined;
  if (min !== undefined && max !== undefined) parts.push(`${min} to ${max}`);
  else if (min !== undefined) parts.push(`at least ${min}`);
  else if (max !== undefined) parts.push(`at most ${max}`);
  if (typeof s.minLength === "number" && s.minLength > 0)
    parts.push(`at least ${s.minLength} character${s.minLength === 1 ? "" : "s"}`);
  if (typeof s.maxLength === "number") parts.push(`at most ${s.maxLength} characters`);
  // A pattern too long to read is named in prose by the schema's title.
  if (typeof s.pattern === "string" && typeof s.title === "string") parts.push(s.title);
  else if (typeof s.pattern === "string") parts.push(`matches ${code(s.pattern)}`);
  if (typeof s.format === "string") parts.push(FORMATS[s.format] ?? `format ${code(s.format)}`);
  if (s.type === "array") {
    const items = (s.items as SchemaNode | undefined) ?? {};
    if (isObjectSchema(items)) parts.push(`entries as in ${code(`${at}[]`)}`);
    else {
      const each = allowedOf(items, `${at}[]`);
      if (each) parts.push(`each ${each}`);
    }
    if (typeof s.minItems === "number" && s.minItems > 0)
      parts.push(`at least ${s.minItems} item${s.minItems === 1 ? "" : "s"}`);
    if (typeof s.maxItems === "number") parts.push(`at most ${s.maxItems} items`);
    if (s.uniqueItems === true) parts.push("no repeats");
  }
  return parts.join("; ");
}

function renderSection(s: Section): string {
  const title = s.path ? `### ${code(s.path)}` : "### Top level";
  const lines = [title, ""];
  if (s.description) lines.push(cell(s.description), "");
  lines.push("| field | type | default | allowed | description |", "|---|---|---|---|---|");
  for (const f of s.fields) {
    const row = [
      code(f.path),
      typeOf(f.schema),
      defaultOf(f),
      cell(allowedOf(f.schema, f.path) || "—"),
      cell(String(f.schema.description ?? "")),
    ];
    lines.push(`| ${row.join(" | ")} |`);
  }
  return lines.join("\n");
}

/** The Markdown between the README markers (markers excluded), generated from the schema. */
export function renderConfigReference(): string {
  const schema = publishedSchema();
  const intro = [
    `<!-- Generated by \`npm run docs\` from provision/core/config-schema.ts: edit the schema, then regenerate; do not edit this section. -->`,
    "",
    `Editors check and complete cluster.config.json when it names this schema: ${code(`"$schema": "./${SCHEMA_FILE}"`)}.`,
  ].join("\n");
  return `\n${intro}\n\n${sections(schema).map(renderSection).join("\n\n")}\n\n`;
}

/** README text with the reference section replaced; throws when the markers are missing. */
export function spliceReadme(readme: string, reference: string, file = README_FILE): string {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start < 0 || end < 0 || end < start) {
    throw new UserError(`${file} has no configuration reference section`, 1, [
      {
        path: file,
        message: `the markers ${START_MARKER} and ${END_MARKER} are missing or out of order`,
        fix: `put the two marker lines, in that order, where the reference belongs, then run npm run docs`,
      },
    ]);
  }
  return `${readme.slice(0, start + START_MARKER.length)}${reference}${readme.slice(end)}`;
}

// ---------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------

export interface DocsOptions {
  /** Project folder holding README.md and stacks/. Default: this checkout. */
  readonly projectDir: string;
  /** Compare only; exit 1 naming each stale file. Default: false (write). */
  readonly check: boolean;
}

export interface DocsResult {
  /** Files (relative to projectDir) that differ from what is generated. */
  readonly stale: readonly string[];
  /** Files written (empty in check mode). */
  readonly written: readonly string[];
}

function readOrEmpty(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** Write to a sibling and rename, so a concurrent reader never sees half a file. */
function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Generates (or checks) both files; returns what was stale and what was written. */
export function main(opts: DocsOptions): DocsResult {
  const schemaPath = path.join(opts.projectDir, SCHEMA_FILE);
  const readmePath = path.join(opts.projectDir, README_FILE);
  const readme = readOrEmpty(readmePath);
  const wanted: Array<[string, string, string]> = [
    [SCHEMA_FILE, schemaPath, renderSchemaJson()],
    [README_FILE, readmePath, spliceReadme(readme, renderConfigReference(), README_FILE)],
  ];
  const current = new Map([
    [schemaPath, readOrEmpty(schemaPath)],
    [readmePath, readme],
  ]);
  const stale = wanted.filter(([, file, text]) => current.get(file) !== text);
  if (!opts.check) for (const [, file, text] of stale) writeAtomic(file, text);
  return { stale: stale.map(([rel]) => rel), written: opts.check ? [] : stale.map(([rel]) => rel) };
}

const USAGE = `usage: npm run docs [-- --check]
  (no flag)  regenerate ${SCHEMA_FILE} and the configuration reference in ${README_FILE}
  --check    write nothing; exit 1 naming each file that is out of date (for CI)
exit: 0 up to date (or regenerated), 1 stale (--check), 2 bad arguments`;

export function cli(argv: readonly string[], projectDir = PROJECT_DIR): number {
  const parsed = parseCli(argv, USAGE, { check: { type: "boolean", default: false } });
  if (!parsed) return 0;
  const { values } = parsed;
  const result = main({ projectDir, check: values.check });
  if (values.check) {
    for (const file of result.stale) process.stderr.write(`stale: ${file} — run npm run docs\n`);
    if (!result.stale.length) process.stdout.write(`up to date: ${SCHEMA_FILE}, ${README_FILE}\n`);
    return result.stale.length ? 1 : 0;
  }
  process.stdout.write(
    result.written.length ? `wrote ${result.written.join(", ")}\n` : `up to date: ${SCHEMA_FILE}, ${README_FILE}\n`,
  );
  return 0;
}
