// deploy/'s RBAC against the calls the code makes, learnt from the code
// itself rather than from a hand-kept list: every method of the two
// Kubernetes API facades (agent/kube/client.ts, src/apiserver/kube/client.ts)
// is called against a recording API, and the built binary is started in both
// modes with the manifests' own flags against it (its informers and the
// self-managed certificate's calls). Each call must be allowed by the
// service account's bindings, and each rule deploy/ grants must be used by
// some call, cluster-wide rules by a call outside the install namespace.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { AgentKube } from "../../agent/kube/client.ts";
import { KubeRestClient } from "../../src/apiserver/kube/client.ts";
import { KubeApiError } from "../../src/kube/rest.ts";
import { parseRequestInfo, type RequestInfo } from "../cluster/apiserver/request-info.ts";
import { registerCleanup } from "../support/cleanup.ts";
import { requireRoot } from "../support/prereqs.ts";
import { makeTempDir, type TempDir } from "../support/tempdir.ts";
import { AGENT, APISERVER, BINARY, container, find, flag, podSpec, render, requireBinary } from "./manifests.ts";
import { describeRequest, grantsOf, ruleAllows, type Grant } from "./rbac.ts";
import { RecordingKubeApi, type RecordedCall } from "./recording-kube-api.ts";

/** Where user pods (and so slave pods) live: any namespace but device-mounter's own. */
const USER_NAMESPACE = "dm-test-users";
const NODE = "dm-test-node";

const objects = render("deploy");
const apiServiceObject = find(objects, "APIService", "v1alpha1.device-mounter.io");
const apiServicePath = `/apis/apiregistration.k8s.io/v1/apiservices/${apiServiceObject.metadata.name}`;
const installNamespace = find(objects, APISERVER.kind, APISERVER.name).metadata.namespace!;
const serviceAccountOf = (workload: typeof APISERVER | typeof AGENT) => ({ namespace: installNamespace, name: podSpec(objects, workload).serviceAccountName as string });
const apiserverArgs = container(objects, APISERVER).args!;
const secretName = flag(apiserverArgs, "serving-cert-secret")!;

/**
 * Each facade method, called as the product calls it (the namespaces and
 * names it passes); null for private helpers every other method goes through.
 * A method missing here fails the test, so a new API call cannot skip the check.
 */
const AGENT_FACADE: Record<string, ((kube: AgentKube) => Promise<unknown>) | null> = {
  getPod: (k) => k.getPod(USER_NAMESPACE, "target"),
  listPods: (k) => k.listPods(USER_NAMESPACE, "device-mounter.io/slave=true"),
  createPod: (k) => k.createPod(USER_NAMESPACE, { metadata: { generateName: "target-dm-loop-" } }),
  deletePod: (k) => k.deletePod(USER_NAMESPACE, "target-dm-loop-x", "uid"),
  patchPodAnnotations: (k) => k.patchPodAnnotations(USER_NAMESPACE, "target-dm-loop-x", { a: "b" }),
  watchPod: async (k) => {
    for await (const _ of k.watchPod(USER_NAMESPACE, "target-dm-loop-x", "1", AbortSignal.timeout(5000)));
  },
  createEvent: (k) => k.createEvent(USER_NAMESPACE, { metadata: { generateName: "target." }, involvedObject: {} }),
  getNode: (k) => k.getNode(NODE),
  patchNodeLabels: (k) => k.patchNodeLabels(NODE, { "device-types.device-mounter.io/LOOP": "true" }),
  reviewToken: (k) => k.reviewToken("token", ["device-mounter-agent"]),
  // Generic; its callers (the informers) are covered by starting the binary.
  listWatch: null,
};

const APISERVER_FACADE: Record<string, ((kube: KubeRestClient) => Promise<unknown>) | null> = {
  getPod: (k) => k.getPod(USER_NAMESPACE, "target"),
  reviewToken: (k) => k.reviewToken("token", []),
  reviewAccess: (k) =>
    k.reviewAccess({ user: { username: "alice", groups: [], extra: {} }, resource: { namespace: USER_NAMESPACE, verb: "update", group: "device-mounter.io", resource: "pods", subresource: "mount", name: "target" } } as never),
  getAPIService: (k) => k.getAPIService(apiServiceObject.metadata.name),
  patchAPIServiceCABundle: (k) => k.patchAPIServiceCABundle(apiServiceObject.metadata.name, "Y2E="),
  getSecret: (k) => k.getSecret(apiServiceObject.spec.service.namespace, secretName),
  createSecret: (k) => k.createSecret(apiServiceObject.spec.service.namespace, { metadata: { name: secretName } }),
  updateSecret: (k) => k.updateSecret(apiServiceObject.spec.service.namespace, { metadata: { name: secretName, resourceVersion: "1" } }),
  listWatch: null,
  call: null,
  getOptional: null,
};

async function facadeCalls<T>(Facade: new (connection: ReturnType<RecordingKubeApi["connection"]>) => T, table: Record<string, ((kube: T) => Promise<unknown>) | null>): Promise<RecordedCall[]> {
  const methods = Object.getOwnPropertyNames(Facade.prototype).filter((name) => name !== "constructor");
  expect(methods.sort()).toEqual(Object.keys(table).sort());
  const recorder = new RecordingKubeApi();
  const kube = new Facade(recorder.connection());
  for (const [name, call] of Object.entries(table)) {
    if (!call) continue;
    const before = recorder.calls.length;
    try {
      await call(kube);
    } catch (e) {
      // An empty cluster answers 404 to some reads; the call was made all the same.
      if (!(e instanceof KubeApiError)) throw e;
    }
    expect(`${name}: ${recorder.calls.length - before > 0 ? "calls the API" : "made no call"}`).toBe(`${name}: calls the API`);
  }
  return recorder.calls;
}

let dir: TempDir;
beforeAll(() => {
  requireBinary();
  dir = makeTempDir("deploy-rbac");
});
afterAll(() => dir?.remove());

/** args with --name=value replaced (the flag must be there). */
function replaceFlag(args: string[], name: string, value: string): string[] {
  if (flag(args, name) === undefined) throw new Error(`the manifests no longer pass --${name}; update this test`);
  return args.map((a) => (a.startsWith(`--${name}=`) ? `--${name}=${value}` : a));
}

/**
 * Starts the binary with `args` against a recording API until its log says
 * `readyMessage` and `settled` holds for the calls, then stops it (SIGTERM).
 */
async function startupCalls(args: string[], env: Record<string, string>, readyMessage: string, settled: (calls: RecordedCall[]) => boolean): Promise<RecordedCall[]> {
  const recorder = new RecordingKubeApi(new Map([[apiServicePath, apiServiceObject]]));
  const kubeconfig = join(dir.path, `kubeconfig-${args[0]}`);
  writeFileSync(kubeconfig, recorder.listen());
  const child = Bun.spawn([BINARY, ...args, `--kubeconfig=${kubeconfig}`], { cwd: "/", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env }, stdout: "pipe", stderr: "pipe" });
  const unregister = registerCleanup(() => child.kill("SIGKILL"), `device-mounter ${args[0]} (pid ${child.pid})`);
  const logs: string[] = [];
  try {
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`device-mounter ${args[0]} did not log ${JSON.stringify(readyMessage)} within 30 s; it logged:\n${logs.join("\n")}`)), 30_000);
      void (async () => {
        let buffered = "";
        for await (const chunk of child.stdout) {
          buffered += new TextDecoder().decode(chunk);
          let newline: number;
          while ((newline = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, newline);
            buffered = buffered.slice(newline + 1);
            logs.push(line);
            if (line.includes(`"msg":${JSON.stringify(readyMessage)}`)) {
              clearTimeout(timer);
              resolve();
            }
          }
        }
        clearTimeout(timer);
        reject(new Error(`device-mounter ${args[0]} exited (${await child.exited}) before logging ${JSON.stringify(readyMessage)}:\n${logs.join("\n")}\n${await new Response(child.stderr).text()}`));
      })();
    });
    await ready;
    await recorder.waitFor(settled, `device-mounter ${args[0]}'s informers to watch`, 10_000);
    return [...recorder.calls];
  } finally {
    child.kill("SIGTERM");
    const exited = await Promise.race([child.exited, Bun.sleep(15_000).then(() => undefined)]);
    if (exited === undefined) child.kill("SIGKILL");
    unregister();
    await recorder.stop();
  }
}

const watches = (calls: RecordedCall[], path: string) => calls.some((c) => c.url.pathname === path && c.url.searchParams.get("watch") === "1");

interface Checked {
  serviceAccount: string;
  grants: Grant[];
  requests: RequestInfo[];
}

const checked: Partial<Record<"apiserver" | "agent", Checked>> = {};
const canRunAgent = requireRoot(["root"]);

describe("the calls the code makes", () => {
  test("apiserver: its facade's methods and its start-up with deploy/'s flags", async () => {
    const tokenFile = join(dir.path, "agent-token");
    writeFileSync(tokenFile, "dm-test-agent-token");
    let args = replaceFlag(apiserverArgs, "secure-port", "0");
    args = replaceFlag(args, "agent-token-file", tokenFile);
    const startup = await startupCalls(args, {}, "serving the certificate from the Secret", (calls) => watches(calls, "/api/v1/namespaces/kube-system/configmaps") && watches(calls, `/api/v1/namespaces/${installNamespace}/pods`));
    const calls = [...(await facadeCalls(KubeRestClient, APISERVER_FACADE)), ...startup];
    // What start-up did: the self-managed certificate's Secret and APIService, the informers.
    const seen = new Set(startup.map((c) => describeRequest(parseRequestInfo(c.method, c.url))));
    for (const expected of [
      `get apiregistration.k8s.io/apiservices ${apiServiceObject.metadata.name} cluster-wide`,
      `get core/secrets ${secretName} in ${installNamespace}`,
      `create core/secrets in ${installNamespace}`,
      `patch apiregistration.k8s.io/apiservices ${apiServiceObject.metadata.name} cluster-wide`,
      `watch core/configmaps extension-apiserver-authentication in kube-system`,
      `watch core/pods in ${installNamespace}`,
    ]) {
      expect(seen).toContain(expected);
    }
    const sa = serviceAccountOf(APISERVER);
    checked.apiserver = { serviceAccount: `${sa.namespace}/${sa.name}`, grants: grantsOf(objects, sa), requests: calls.map((c) => parseRequestInfo(c.method, c.url)) };
  }, 60_000);

  test.skipIf(!canRunAgent)("agent: its facade's methods and its start-up with deploy/'s flags (root: it probes the kernel)", async () => {
    const agent = container(objects, AGENT);
    const typesFile = join(dir.path, "device-types.yaml");
    const configMap = find(objects, "ConfigMap", "device-mounter-device-types");
    writeFileSync(typesFile, configMap.data["device-types.yaml"]);
    let args = replaceFlag(agent.args!, "secure-port", "0");
    args = replaceFlag(args, "device-types-config", typesFile);
    const env = { NODE_NAME: NODE, DEVICE_MOUNTER_IMAGE: agent.env!.find((e) => e.name === "DEVICE_MOUNTER_IMAGE")!.value! };
    const startup = await startupCalls(args, env, "agent serving", (calls) => watches(calls, "/api/v1/pods") && watches(calls, "/api/v1/nodes"));
    const calls = [...(await facadeCalls(AgentKube, AGENT_FACADE)), ...startup];
    const seen = new Set(startup.map((c) => describeRequest(parseRequestInfo(c.method, c.url))));
    expect(seen).toContain("watch core/pods cluster-wide");
    expect(seen).toContain(`watch core/nodes ${NODE} cluster-wide`);
    const sa = serviceAccountOf(AGENT);
    checked.agent = { serviceAccount: `${sa.namespace}/${sa.name}`, grants: grantsOf(objects, sa), requests: calls.map((c) => parseRequestInfo(c.method, c.url)) };
  }, 60_000);
});

const modes: Array<"apiserver" | "agent"> = ["apiserver", ...(canRunAgent ? (["agent"] as const) : [])];

/** The calls no grant allows. */
const denied = ({ grants, requests }: Pick<Checked, "grants" | "requests">) => [...new Set(requests.filter((r) => !grants.some((g) => ruleAllows(g, r))).map(describeRequest))];

/** One grant per verb and resource of a rule: what each could be trimmed to. */
const singleGrants = (grant: Grant): Grant[] =>
  grant.rule.verbs.flatMap((verb) => (grant.rule.apiGroups ?? [""]).flatMap((group) => (grant.rule.resources ?? []).map((resource) => ({ ...grant, rule: { ...grant.rule, verbs: [verb], apiGroups: [group], resources: [resource] } }))));
const label = (g: Grant) => `${g.source}: ${g.rule.verbs[0]} ${g.rule.apiGroups?.[0] || "core"}/${g.rule.resources?.[0]}${g.rule.resourceNames?.length ? ` ${g.rule.resourceNames.join(",")}` : ""}`;

describe.each(modes)("%s's RBAC", (mode) => {
  const get = (): Checked => {
    const c = checked[mode];
    if (!c) throw new Error(`the calls of the ${mode} were not recorded (see the test above)`);
    return c;
  };

  test("allows every call", () => {
    expect(get().requests.length).toBeGreaterThan(5);
    expect(denied(get())).toEqual([]);
  });

  test("grants nothing no call uses; cluster-wide only what is used outside its namespace", () => {
    const { grants, requests } = get();
    const unused: string[] = [];
    const narrower: string[] = [];
    for (const grant of grants.filter((g) => !g.builtIn).flatMap(singleGrants)) {
      const users = requests.filter((r) => ruleAllows(grant, r));
      if (users.length === 0) unused.push(label(grant));
      else if (grant.namespace === undefined && users.every((r) => r.namespace === installNamespace)) narrower.push(`${label(grant)} (used only in ${installNamespace}: a Role there would do)`);
    }
    expect(unused).toEqual([]);
    expect(narrower).toEqual([]);
    // Kubernetes' own role is bound for a reason too.
    for (const grant of grants.filter((g) => g.builtIn)) expect(`${grant.source}: ${requests.some((r) => ruleAllows(grant, r)) ? "used" : "unused"}`).toBe(`${grant.source}: used`);
  });
});

describe("the RBAC check itself", () => {
  test("a rule taken away shows as the call it no longer allows; a resourceName or namespace off by one denies", () => {
    const rule = (verbs: string[], resources: string[], extra: Partial<Grant["rule"]> = {}): Grant => ({ rule: { apiGroups: [""], verbs, resources, ...extra }, source: "test", builtIn: false });
    const request = (method: string, path: string) => parseRequestInfo(method, new URL(path, "http://x"));
    const patchSlave = request("PATCH", `/api/v1/namespaces/${USER_NAMESPACE}/pods/slave`);
    expect(denied({ grants: [rule(["get", "list"], ["pods"])], requests: [patchSlave] })).toEqual([`patch core/pods slave in ${USER_NAMESPACE}`]);
    expect(denied({ grants: [rule(["patch"], ["pods"])], requests: [patchSlave] })).toEqual([]);
    const getSecret = request("GET", `/api/v1/namespaces/${installNamespace}/secrets/other`);
    expect(denied({ grants: [rule(["get"], ["secrets"], { resourceNames: [secretName] })], requests: [getSecret] })).toHaveLength(1);
    expect(denied({ grants: [{ ...rule(["get"], ["pods"]), namespace: installNamespace }], requests: [request("GET", `/api/v1/namespaces/${USER_NAMESPACE}/pods/x`)] })).toHaveLength(1);
    expect(denied({ grants: [{ ...rule(["list"], ["pods"]), namespace: installNamespace }], requests: [request("GET", "/api/v1/pods")] })).toEqual(["list core/pods cluster-wide"]);
  });
});

