// The deploy/ kustomizations as kubectl renders them (`kubectl kustomize`,
// offline), and lookups into the rendered objects that the deploy checks share.
import { existsSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");
export const BINARY = join(ROOT, "dist/device-mounter");

/** Every kustomization a user applies, relative to the repository root. */
export const KUSTOMIZATIONS = ["deploy", "deploy/overlays/cert-manager", "deploy/kind"] as const;
export type Kustomization = (typeof KUSTOMIZATIONS)[number];

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: any;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: any }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  [field: string]: any;
}

const rendered = new Map<string, Manifest[]>();

/** `kubectl kustomize <dir>` parsed; fails naming the kustomization and kubectl's complaint. */
export function render(dir: string): Manifest[] {
  const cached = rendered.get(dir);
  if (cached) return cached;
  const kubectl = Bun.which("kubectl");
  if (!kubectl) throw new Error("kubectl is not on PATH: the deploy checks render deploy/ with `kubectl kustomize` (apt-get install kubernetes-client, or run scripts/setup.sh)");
  const result = Bun.spawnSync([kubectl, "kustomize", join(ROOT, dir)], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr.toString()}`);
  const documents = Bun.YAML.parse(result.stdout.toString()) as unknown;
  const objects = (Array.isArray(documents) ? documents : [documents]).filter((d): d is Manifest => d !== null && typeof d === "object");
  rendered.set(dir, objects);
  return objects;
}

export function find(objects: Manifest[], kind: string, name: string): Manifest {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
  return found;
}

export const APISERVER = { kind: "Deployment", name: "device-mounter-apiserver", container: "apiserver" } as const;
export const AGENT = { kind: "DaemonSet", name: "device-mounter-agent", container: "agent" } as const;

export function podSpec(objects: Manifest[], workload: { kind: string; name: string }): any {
  return find(objects, workload.kind, workload.name).spec.template.spec;
}

export function container(objects: Manifest[], workload: typeof APISERVER | typeof AGENT): Container {
  const found = (podSpec(objects, workload).containers as Container[]).find((c) => c.name === workload.container);
  if (!found) throw new Error(`${workload.kind} ${workload.name} has no container ${workload.container}`);
  return found;
}

/** The value of `--name=value` in args; undefined when absent. Every flag in deploy/ is written `--name=value`. */
export function flag(args: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  const matches = args.filter((a) => a.startsWith(prefix));
  if (matches.length > 1) throw new Error(`--${name} is given ${matches.length} times in ${args.join(" ")}`);
  return matches[0]?.slice(prefix.length);
}

export function requireBinary(): void {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: the deploy checks run the binary the manifests run; build it with \`node_modules/.bin/bun build.ts\``);
}

const helpTexts = new Map<string, string>();

/** `device-mounter <mode> --help` (run once per mode). */
export function help(mode: "apiserver" | "agent"): string {
  const cached = helpTexts.get(mode);
  if (cached !== undefined) return cached;
  requireBinary();
  const result = Bun.spawnSync([BINARY, mode, "--help"], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`device-mounter ${mode} --help exited ${result.exitCode}: ${result.stderr.toString()}`);
  helpTexts.set(mode, result.stdout.toString());
  return result.stdout.toString();
}

/** The flags `<mode> --help` lists, with their defaults ("" when none is shown). */
export function helpFlags(mode: "apiserver" | "agent"): Map<string, string> {
  const flags = new Map<string, string>();
  const lines = help(mode).split("\n");
  lines.forEach((line, i) => {
    const m = /^ {2}--([a-z0-9-]+)/.exec(line);
    if (!m) return;
    const defaultValue = /\(default "([^"]*)"\)/.exec(lines[i + 1] ?? "");
    flags.set(m[1]!, defaultValue?.[1] ?? "");
  });
  return flags;
}

/** A flag's value as the binary sees it: from the args, else its --help default. */
export function effectiveFlag(mode: "apiserver" | "agent", args: readonly string[], name: string): string {
  const given = flag(args, name);
  if (given !== undefined) return given;
  const defaults = helpFlags(mode);
  if (!defaults.has(name)) throw new Error(`device-mounter ${mode} has no flag --${name}`);
  return defaults.get(name)!;
}

/** Whether a label selector of the form k=v[,k=v...] (what deploy/ uses) selects `labels`. */
export function selects(selector: string, labels: Record<string, string> | undefined): boolean {
  return selector.split(",").every((requirement) => {
    const [key, value] = requirement.split("=");
    if (key === undefined || value === undefined) throw new Error(`selector requirement ${requirement} is not key=value`);
    return labels?.[key.trim()] === value.trim();
  });
}
