// deploy/ against the Kubernetes schemas and against the binary it runs:
// every kustomization renders and validates, every flag and environment
// variable the manifests pass exists in `<mode> --help`, ports, names and
// selectors agree between the apiserver, its Service, the APIService and the
// agents, shutdown has the time the apiserver's drain needs, and the
// workloads hold the security settings the README promises.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOLD_COMMAND } from "../../agent/slavepod/build.ts";
import { parseDeviceTypeConfig } from "../../agent/devicetypes/generic.ts";
import { BUILT_IN_TYPE_NAMES } from "../../agent/devicetypes/registry.ts";
import { completeApiserverConfig } from "../../src/apiserver/config.ts";
import { parseApiserverFlags, validateApiserverOptions } from "../../src/apiserver/options.ts";
import { makeTempDir } from "../support/tempdir.ts";
import { AGENT, APISERVER, container, effectiveFlag, find, flag, help, helpFlags, KUSTOMIZATIONS, podSpec, render, ROOT, selects, type Container, type Manifest } from "./manifests.ts";
import { validateObject, WITHOUT_SCHEMA_PACKAGE } from "./schema.ts";

const modeOf = (c: Container): "apiserver" | "agent" => {
  const mode = c.args?.[0];
  if (mode !== "apiserver" && mode !== "agent") throw new Error(`container ${c.name} runs ${JSON.stringify(mode)}, not a server mode`);
  return mode;
};

describe("the schema check itself", () => {
  test("reports a misspelt field, a wrong type and a kind it has no schema for", async () => {
    const deployment = structuredClone(find(render("deploy"), APISERVER.kind, APISERVER.name));
    deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    deployment.spec.template.spec.containers[0].ports[0].containerPort = "https";
    const result = await validateObject(deployment);
    expect("problems" in result && result.problems.join("\n")).toContain("unknown field spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem");
    expect("problems" in result && result.problems.join("\n")).toContain("containerPort must be integer");
    expect(await validateObject({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } })).toEqual({ problems: ["example.com/v1 Widget: kubernetes-models has no schema for it"] });
  });
});

for (const kustomization of KUSTOMIZATIONS) {
  describe(kustomization, () => {
    test("renders with kubectl kustomize and every object validates against the Kubernetes schemas", async () => {
      const objects = render(kustomization);
      expect(objects.length).toBeGreaterThan(10);
      const problems: string[] = [];
      const unvalidated: string[] = [];
      for (const object of objects) {
        const result = await validateObject(object);
        if ("problems" in result) problems.push(...result.problems);
        else if (!result.validated) unvalidated.push(`${object.apiVersion} ${object.kind}`);
      }
      expect(problems).toEqual([]);
      // Only cert-manager's kinds lack a schema package; they are cross-checked below.
      for (const gvk of unvalidated) expect(WITHOUT_SCHEMA_PACKAGE.has(gvk)).toBe(true);
      const names = objects.map((o) => `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`);
      expect(names.length).toBe(new Set(names).size);
    });

    test("every flag and environment variable passed to the binary exists in its --help", () => {
      const objects = render(kustomization);
      for (const workload of [APISERVER, AGENT]) {
        const c = container(objects, workload);
        const mode = modeOf(c);
        expect(c.command).toBeUndefined(); // the image's entrypoint, /device-mounter, runs
        const known = helpFlags(mode);
        const passed = c.args!.slice(1);
        const unknown = passed.filter((a) => !known.has(/^--([a-z0-9-]+)=/.exec(a)?.[1] ?? `(not --name=value: ${a})`));
        expect(unknown).toEqual([]);
        // Environment variables the binary reads are named in its help as $NAME.
        const text = help(mode);
        for (const env of c.env ?? []) expect(`${mode}: ${text.includes(`$${env.name}`) ? "reads" : "ignores"} $${env.name}`).toBe(`${mode}: reads $${env.name}`);
      }
    });

    test("the Service, the APIService and the apiserver agree on names and ports", () => {
      const objects = render(kustomization);
      const apiserver = container(objects, APISERVER);
      const deployment = find(objects, APISERVER.kind, APISERVER.name);
      const securePort = Number(effectiveFlag("apiserver", apiserver.args!, "secure-port"));
      const apiService = find(objects, "APIService", "v1alpha1.device-mounter.io");
      expect(apiService.spec).toMatchObject({ group: "device-mounter.io", version: "v1alpha1" });
      expect(apiService.spec.insecureSkipTLSVerify ?? false).toBe(false);
      const service = find(objects, "Service", apiService.spec.service.name);
      expect(service.metadata.namespace).toBe(apiService.spec.service.namespace);
      const servicePort = service.spec.ports.find((p: any) => p.port === (apiService.spec.service.port ?? 443));
      expect(servicePort).toBeDefined();
      const target = servicePort.targetPort;
      const containerPort = typeof target === "number" ? target : apiserver.ports!.find((p) => p.name === target)?.containerPort;
      expect(containerPort).toBe(securePort);
      expect(selects(Object.entries(service.spec.selector).map(([k, v]) => `${k}=${v}`).join(","), deployment.spec.template.metadata.labels)).toBe(true);
      for (const probe of [apiserver.livenessProbe, apiserver.readinessProbe]) {
        const port = typeof probe.httpGet.port === "number" ? probe.httpGet.port : apiserver.ports!.find((p) => p.name === probe.httpGet.port)?.containerPort;
        expect({ scheme: probe.httpGet.scheme, port }).toEqual({ scheme: "HTTPS", port: securePort });
      }
      expect([apiserver.livenessProbe.httpGet.path, apiserver.readinessProbe.httpGet.path]).toEqual(["/livez", "/readyz"]);
      const selfManaged = flag(apiserver.args!, "apiservice");
      if (selfManaged !== undefined) expect(selfManaged).toBe(apiService.metadata.name);
    });

    test("the apiserver finds the agents: namespace, selector, port, identity and token audience agree", () => {
      const objects = render(kustomization);
      const apiserver = container(objects, APISERVER);
      const agent = container(objects, AGENT);
      const daemonSet = find(objects, AGENT.kind, AGENT.name);
      expect(daemonSet.metadata.namespace).toBe(effectiveFlag("apiserver", apiserver.args!, "agent-namespace"));
      expect(selects(effectiveFlag("apiserver", apiserver.args!, "agent-selector"), daemonSet.spec.template.metadata.labels)).toBe(true);
      const agentPort = Number(effectiveFlag("agent", agent.args!, "secure-port"));
      expect(Number(effectiveFlag("apiserver", apiserver.args!, "agent-port"))).toBe(agentPort);
      expect(agent.ports!.find((p) => p.name === "https")?.containerPort).toBe(agentPort);
      for (const probe of [agent.startupProbe, agent.livenessProbe, agent.readinessProbe]) expect(probe.httpGet).toMatchObject({ scheme: "HTTPS", port: "https" });
      expect([agent.livenessProbe.httpGet.path, agent.readinessProbe.httpGet.path]).toEqual(["/livez", "/readyz"]);

      const deployment = find(objects, APISERVER.kind, APISERVER.name);
      const identity = `system:serviceaccount:${deployment.metadata.namespace}:${deployment.spec.template.spec.serviceAccountName}`;
      expect(effectiveFlag("agent", agent.args!, "allowed-callers").split(",")).toContain(identity);
      // The token the apiserver presents is a projected token whose audience the agents require.
      const tokenFile = effectiveFlag("apiserver", apiserver.args!, "agent-token-file");
      const mount = apiserver.volumeMounts!.find((m) => tokenFile.startsWith(`${m.mountPath}/`));
      expect(mount).toBeDefined();
      const volume = deployment.spec.template.spec.volumes.find((v: any) => v.name === mount!.name);
      const source = volume.projected.sources.find((s: any) => s.serviceAccountToken && `${mount!.mountPath}/${s.serviceAccountToken.path}` === tokenFile);
      expect(source).toBeDefined();
      expect(effectiveFlag("agent", agent.args!, "token-audiences").split(",")).toEqual([source.serviceAccountToken.audience]);
    });

    test("shutdown waits as long as the apiserver's drain: terminationGracePeriodSeconds >= --max-wait-seconds + 10", async () => {
      const objects = render(kustomization);
      const args = container(objects, APISERVER).args!;
      const maxWait = Number(effectiveFlag("apiserver", args, "max-wait-seconds"));
      // The drain deadline as the apiserver computes it from its flags.
      const dir = makeTempDir("deploy-drain");
      try {
        const kubeconfig = join(dir.path, "kubeconfig");
        writeFileSync(kubeconfig, JSON.stringify({ apiVersion: "v1", kind: "Config", clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }], users: [{ name: "u", user: { token: "t" } }], contexts: [{ name: "c", context: { cluster: "c", user: "u" } }], "current-context": "c" }));
        const config = await completeApiserverConfig(validateApiserverOptions(parseApiserverFlags([`--max-wait-seconds=${maxWait}`, `--kubeconfig=${kubeconfig}`])));
        const grace = podSpec(objects, APISERVER).terminationGracePeriodSeconds;
        expect(config.shutdownDrainMs).toBe((maxWait + 10) * 1000);
        expect(grace * 1000).toBeGreaterThanOrEqual(config.shutdownDrainMs);
      } finally {
        dir.remove();
      }
    });

    test("slave pods run the agent's own image: DEVICE_MOUNTER_IMAGE equals the image", () => {
      const agent = container(render(kustomization), AGENT);
      expect(agent.env?.find((e) => e.name === "DEVICE_MOUNTER_IMAGE")?.value).toBe(agent.image);
      expect(container(render(kustomization), APISERVER).image).toBe(agent.image);
    });

    test("the device-type ConfigMap is valid for the agent and mounted where --device-types-config points", () => {
      const objects = render(kustomization);
      const agent = container(objects, AGENT);
      const path = effectiveFlag("agent", agent.args!, "device-types-config");
      const mount = agent.volumeMounts!.find((m) => path.startsWith(`${m.mountPath}/`))!;
      const volume = podSpec(objects, AGENT).volumes.find((v: any) => v.name === mount.name);
      const configMap = find(objects, "ConfigMap", volume.configMap.name);
      const key = path.slice(mount.mountPath.length + 1);
      expect(Object.keys(configMap.data)).toContain(key);
      const types = parseDeviceTypeConfig(configMap.data[key], `${kustomization} ConfigMap ${configMap.metadata.name}`, BUILT_IN_TYPE_NAMES);
      expect(types.map((t) => t.name)).toEqual(kustomization === "deploy/kind" ? ["LOOP"] : []);
    });
  });
}

describe("deploy (the base)", () => {
  const objects = () => render("deploy");

  test("the seed's ClusterRole device-mounter.io:generate is there exactly as the API contract states it", () => {
    const role = find(objects(), "ClusterRole", "device-mounter.io:generate");
    expect(role.apiVersion).toBe("rbac.authorization.k8s.io/v1");
    expect(role.rules).toEqual([{ apiGroups: ["device-mounter.io"], resources: ["pods/mount", "pods/unmount"], verbs: ["update"] }]);
    expect(role.aggregationRule).toBeUndefined();
  });

  test("namespace editors get the mount rights only when the cluster admin opts in", () => {
    expect(objects().filter((o) => o.metadata.labels?.["rbac.authorization.k8s.io/aggregate-to-edit"])).toEqual([]);
    const component = Bun.YAML.parse(readFileSync(join(ROOT, "deploy/components/aggregate-to-edit/clusterrole.yaml"), "utf8")) as Manifest;
    expect(component.metadata.labels).toMatchObject({ "rbac.authorization.k8s.io/aggregate-to-edit": "true" });
    expect(component.rules).toEqual(find(objects(), "ClusterRole", "device-mounter.io:generate").rules);
  });

  test("the apiserver: 2 replicas under a PodDisruptionBudget, spread, non-root, read-only, no capabilities, bounded resources", () => {
    const deployment = find(objects(), APISERVER.kind, APISERVER.name);
    const spec = deployment.spec.template.spec;
    const c = container(objects(), APISERVER);
    expect(deployment.spec.replicas).toBe(2);
    const pdb = objects().find((o) => o.kind === "PodDisruptionBudget" && selects(Object.entries(o.spec.selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(","), spec.labels ?? deployment.spec.template.metadata.labels));
    expect(pdb?.spec.minAvailable).toBe(1);
    expect(spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe("kubernetes.io/hostname");
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ["ALL"] } });
    expect(Object.keys(c.resources.requests).sort()).toEqual(["cpu", "memory"]);
    expect(Object.keys(c.resources.limits).sort()).toEqual(["cpu", "memory"]);
    expect(spec.hostPID ?? false).toBe(false);
    expect(spec.hostNetwork ?? false).toBe(false);
  });

  test("the agent: host PIDs, the pod network, the exact capabilities, node-critical, on every node, NODE_NAME from the downward API", () => {
    const spec = podSpec(objects(), AGENT);
    const c = container(objects(), AGENT);
    expect(spec.hostPID).toBe(true);
    expect(spec.hostNetwork ?? false).toBe(false);
    expect(spec.priorityClassName).toBe("system-node-critical");
    expect(spec.tolerations).toEqual([{ operator: "Exists" }]);
    expect(c.securityContext.privileged).toBe(false);
    expect(c.securityContext.capabilities.drop).toEqual(["ALL"]);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.env?.find((e) => e.name === "NODE_NAME")?.valueFrom).toEqual({ fieldRef: { fieldPath: "spec.nodeName" } });
    const hostPaths = Object.fromEntries(spec.volumes.filter((v: any) => v.hostPath).map((v: any) => [v.hostPath.path, c.volumeMounts!.find((m) => m.name === v.name)]));
    expect(Object.keys(hostPaths).sort()).toEqual(["/dev", "/sys/fs/cgroup", "/var/lib/kubelet/pod-resources"]);
    expect(hostPaths["/dev"]).toMatchObject({ mountPath: "/dev", readOnly: true });
    expect(hostPaths["/sys/fs/cgroup"]!.mountPath).toBe(effectiveFlag("agent", c.args!, "cgroup-root"));
    expect(effectiveFlag("agent", c.args!, "podresources-socket").startsWith(`${hostPaths["/var/lib/kubelet/pod-resources"]!.mountPath}/`)).toBe(true);
    // Mounting the host's /dev over /dev leaves no place for the default /dev/termination-log.
    expect(c.terminationMessagePath.startsWith("/dev/")).toBe(false);
  });

  test("the image is the package's version", () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(container(objects(), AGENT).image).toBe(`device-mounter:${version}`);
  });
});

describe("deploy/overlays/cert-manager", () => {
  const objects = () => render("deploy/overlays/cert-manager");

  test("every Secret the workloads mount is issued by a Certificate from the overlay's CA Issuer, and the APIService gets its CA injected", () => {
    const certificates = objects().filter((o) => o.kind === "Certificate");
    const issuers = new Map(objects().filter((o) => o.kind === "Issuer").map((o) => [o.metadata.name, o]));
    for (const certificate of certificates) {
      expect(issuers.has(certificate.spec.issuerRef.name)).toBe(true);
      expect(certificate.metadata.namespace).toBe(issuers.get(certificate.spec.issuerRef.name)!.metadata.namespace);
    }
    for (const workload of [APISERVER, AGENT]) {
      for (const volume of podSpec(objects(), workload).volumes.filter((v: any) => v.secret)) {
        const issuedBy = certificates.find((c) => c.spec.secretName === volume.secret.secretName);
        expect(`${workload.name} mounts ${volume.secret.secretName} ${issuedBy ? "issued by cert-manager" : "from nowhere"}`).toBe(`${workload.name} mounts ${volume.secret.secretName} issued by cert-manager`);
        expect(issuers.get(issuedBy!.spec.issuerRef.name)!.spec.ca?.secretName).toBe("device-mounter-ca");
      }
    }
    const apiserverCertificate = certificates.find((c) => c.metadata.name === "device-mounter-apiserver")!;
    const apiService = find(objects(), "APIService", "v1alpha1.device-mounter.io");
    expect(apiService.metadata.annotations?.["cert-manager.io/inject-ca-from"]).toBe(`${apiserverCertificate.metadata.namespace}/${apiserverCertificate.metadata.name}`);
    expect(apiserverCertificate.spec.dnsNames).toContain(`${apiService.spec.service.name}.${apiService.spec.service.namespace}.svc`);
  });

  test("the apiserver serves cert-manager's certificate and verifies agents by the name in theirs; the self-managed Secret's access is gone", () => {
    const args = container(objects(), APISERVER).args!;
    expect(flag(args, "apiservice")).toBeUndefined();
    expect(flag(args, "serving-cert-secret")).toBeUndefined();
    for (const name of ["tls-cert-file", "tls-private-key-file", "agent-ca-file", "agent-server-name"]) expect(flag(args, name)).toBeDefined();
    const agentCertificate = objects().find((o) => o.kind === "Certificate" && o.metadata.name === "device-mounter-agent")!;
    expect(agentCertificate.spec.dnsNames).toContain(flag(args, "agent-server-name"));
    expect(objects().filter((o) => o.metadata.name === "device-mounter-apiserver-serving-cert")).toEqual([]);
  });
});

describe("the image (deploy/Dockerfile)", () => {
  const dockerfile = () => readFileSync(join(ROOT, "deploy/Dockerfile"), "utf8");
  const stages = () => dockerfile().split(/^FROM /m).slice(1);

  test("the final stage holds only the binary at /device-mounter, which is the entrypoint and the slave pods' hold command", () => {
    const final = stages().at(-1)!;
    expect(final).toMatch(/^gcr\.io\/distroless\/cc-debian12\b/);
    const copies = final.split("\n").filter((l) => /^(COPY|ADD|RUN)\b/.test(l));
    expect(copies).toEqual(["COPY --from=build --chmod=0755 /src/dist/device-mounter /device-mounter"]);
    const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(final)![1]!) as string[];
    expect(entrypoint).toEqual(["/device-mounter"]);
    expect(HOLD_COMMAND[0]).toBe(entrypoint[0]);
    expect(HOLD_COMMAND.slice(1)).toEqual(["hold"]);
    expect(help("agent")).toContain("device-mounter hold");
  });

  test("the build stage runs build.ts on the same Debian release as the final stage", () => {
    const build = stages()[0]!;
    expect(build).toMatch(/^docker\.io\/library\/node:\d+-bookworm AS build/);
    expect(build).toContain("RUN node_modules/.bin/bun build.ts");
    // COPY sources: everything build.ts compiles (src/main.ts imports agent/ and native/).
    for (const dir of ["native", "src", "agent"]) expect(build).toContain(`COPY ${dir} ./${dir}`);
  });
});
