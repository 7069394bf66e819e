// The agent's HTTPS serving as an operator sees it: a certificate from files
// (a mounted Secret that cert-manager renews) is served anew without a
// restart, and stopping lets a running mount answer.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { connect } from "node:tls";
import { cleanupAfterAll } from "../support/cleanup.ts";
import { requireRoot } from "../support/prereqs.ts";
import { CertFactory, type Issued } from "../apiserver/support/certs.ts";
import { createPod, kubectlOk, waitForPod } from "../cluster/testing.ts";
import { startAgentCluster, type AgentCluster } from "./harness.ts";

cleanupAfterAll();
const ready = requireRoot(["root", "runc", "busybox", "losetup", "cgroup-v1-devices", "cgroup2"]);

/** The CN of the certificate the agent serves, as a client that trusts `ca` sees it. */
function servedCN(port: number, ca: Issued): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca: ca.cert, servername: "device-mounter-agent" }, () => {
      resolve(String(socket.getPeerCertificate().subject.CN));
      socket.end();
    });
    socket.on("error", reject);
  });
}

/** The agent's own log line, within the agent's file re-read interval (10 s) and some slack. */
async function logged(env: AgentCluster, message: string, after: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (env.logs.slice(after).some((l) => l.includes(message))) return;
    await Bun.sleep(100);
  }
  throw new Error(`the agent did not log "${message}" within 20 s`);
}

describe.skipIf(!ready)("the agent's serving", () => {
  let env: AgentCluster;
  let certs: CertFactory;
  let ca: Issued;
  let serving: Issued;

  beforeAll(async () => {
    certs = new CertFactory();
    ca = certs.rootCA("agent-ca");
    serving = certs.leaf("agent-serving", ca, { cn: "device-mounter-agent", usage: "serverAuth", altNames: ["device-mounter-agent"] });
    env = await startAgentCluster({
      cgroupMode: "v1",
      driver: "cgroupfs",
      loop: 1,
      agentFlags: [`--tls-cert-file=${serving.certPath}`, `--tls-private-key-file=${serving.keyPath}`],
    });
  }, 120_000);
  afterAll(async () => {
    await env?.stop();
    certs?.remove();
  });

  // What a broken pair does is src/tls/serving-files.test.ts's, where polling can be fast.
  test("a renewed certificate in the files is served without a restart", async () => {
    expect(await servedCN(env.port(), ca)).toBe("device-mounter-agent");
    const renewed = certs.leaf("agent-serving-renewed", ca, { cn: "device-mounter-agent-renewed", usage: "serverAuth", altNames: ["device-mounter-agent"] });
    const mark = env.logs.length;
    writeFileSync(serving.certPath, renewed.cert);
    writeFileSync(serving.keyPath, renewed.key);
    await logged(env, "reloaded the serving certificate", mark);
    expect(await servedCN(env.port(), ca)).toBe("device-mounter-agent-renewed");
  }, 60_000);

  test("stopping lets a running mount finish and answer before the agent exits", async () => {
    // The only loop device is taken, so the mount waits for its full timeout.
    await createPod(env.cluster, { name: "hog", command: ["sleep", "3600"], terminationGracePeriodSeconds: 0, limits: { "example.com/loop": "1" } });
    await createPod(env.cluster, { name: "app", command: ["sleep", "3600"], terminationGracePeriodSeconds: 0 });
    await waitForPod(env.cluster, "hog", "condition=Ready");
    await waitForPod(env.cluster, "app", "condition=Ready");
    const waiting = env.mount({ pod: "app", timeoutSeconds: 3 });
    // Its slave pod exists: the mount is running in the agent.
    const deadline = Date.now() + 10_000;
    while (!(await kubectlOk(env.cluster, ["get", "pods", "-l", "device-mounter.io/slave=true", "-o", "name"])).trim()) {
      if (Date.now() > deadline) throw new Error("the mount created no slave pod within 10 s");
      await Bun.sleep(100);
    }
    const stopped = env.stopAgent();
    const answer = await waiting;
    expect(answer).toMatchObject({ status: 409 });
    expect(answer.body.message).toContain("Insufficient example.com/loop");
    await stopped;
  }, 60_000);
});
