// `device-mounter agent` flags → validated options (every problem at once).
import { isIP } from "node:net";
import { FlagValidator, flagUsage, parseFlags, type FlagTable, type ParsedFlags } from "../src/cli/flags.ts";
import { DEFAULT_PODRESOURCES_SOCKET } from "../src/api/podresources.ts";

export const DEFAULT_APISERVER_IDENTITY = "system:serviceaccount:device-mounter:device-mounter-apiserver";

const FLAGS = {
  kubeconfig: { type: "string", help: "kubeconfig for the Kubernetes API; default: the pod's service account." },
  "node-name": { type: "string", help: "This node's name (default $NODE_NAME, from the downward API)." },
  "secure-port": { type: "string", default: "8443", help: "Port of the agent API (HTTPS; 0: any free port)." },
  "bind-address": { type: "string", default: "0.0.0.0", help: "IP address to listen on." },
  "tls-cert-file": { type: "string", help: "Serving certificate (PEM). Without it a self-signed certificate is generated." },
  "tls-private-key-file": { type: "string", help: "Private key of --tls-cert-file (PEM)." },
  "allowed-callers": { type: "string", default: DEFAULT_APISERVER_IDENTITY, help: "Comma-separated users (as TokenReview names them) allowed to call the agent API." },
  "token-audiences": { type: "string", default: "", help: "Comma-separated audiences callers' tokens must be valid for (empty: the API server's)." },
  "image": { type: "string", help: "Image of the slave pods (the agent's own image, running `device-mounter hold`); default $DEVICE_MOUNTER_IMAGE." },
  "podresources-socket": { type: "string", default: DEFAULT_PODRESOURCES_SOCKET, help: "The kubelet's PodResources API socket." },
  "cgroup-root": { type: "string", default: "/sys/fs/cgroup", help: "Where the host's cgroup hierarchies are mounted." },
  "cgroup-driver": { type: "string", default: "auto", help: "The kubelet's cgroup driver: cgroupfs, systemd or auto." },
  "kubepods-root": { type: "string", help: "Cgroup path of the kubepods cgroup (default /kubepods, or /kubepods.slice for systemd)." },
  "nvidia-proc-root": { type: "string", default: "/proc", help: "Where the NVIDIA driver's proc files are (<dir>/driver/nvidia/gpus)." },
  "dev-root": { type: "string", default: "/dev", help: "Where the host's device nodes are." },
  "device-types-config": { type: "string", help: "Generic device types (YAML or JSON; a mounted ConfigMap key)." },
  "repair-interval": { type: "string", default: "5s", help: "How often grants are checked against the slave pods and the kernel." },
  "kill-grace-period": { type: "string", default: "5s", help: "How long a forced unmount lets processes end after SIGTERM." },
  help: { type: "boolean", short: "h", help: "Show this help." },
} as const satisfies FlagTable;

export type AgentFlags = ParsedFlags<typeof FLAGS>;

export interface AgentOptions {
  kubeconfig?: string;
  nodeName: string;
  securePort: number;
  bindAddress: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  allowedCallers: string[];
  tokenAudiences: string[];
  image: string;
  podResourcesSocket: string;
  cgroupRoot: string;
  cgroupDriver: "cgroupfs" | "systemd" | "auto";
  kubepodsRoot?: string;
  nvidiaProcRoot: string;
  devRoot: string;
  deviceTypesConfig?: string;
  repairIntervalMs: number;
  killGraceMs: number;
}

export const agentUsage = () => flagUsage("Usage: device-mounter agent [flags]\n\nMounts devices into pod containers on this node (run as a DaemonSet).", FLAGS);

export const parseAgentFlags = (argv: string[]): AgentFlags => parseFlags(argv, FLAGS);

const list = (text: string | undefined) => (text ?? "").split(",").map((s) => s.trim()).filter(Boolean);

export function validateAgentOptions(flags: AgentFlags, env: Record<string, string | undefined> = process.env): AgentOptions {
  const check = new FlagValidator(flags);
  const nodeName = flags["node-name"] ?? env.NODE_NAME ?? "";
  if (!nodeName) check.problems.push("--node-name is required (or set NODE_NAME from the downward API)");
  const securePort = check.integer("secure-port", 0, 65535);
  const bindAddress = check.text("bind-address");
  if (!isIP(bindAddress)) check.problems.push(`--bind-address ${JSON.stringify(bindAddress)} is not an IP address`);
  const tlsCertFile = check.file("tls-cert-file");
  const tlsPrivateKeyFile = check.file("tls-private-key-file");
  if ((tlsCertFile === undefined) !== (tlsPrivateKeyFile === undefined)) check.problems.push("--tls-cert-file and --tls-private-key-file go together: give both or neither");
  const kubeconfig = check.file("kubeconfig");
  const allowedCallers = list(flags["allowed-callers"]);
  if (allowedCallers.length === 0) check.problems.push("--allowed-callers must name at least one user: nobody could call the agent");
  const image = flags.image ?? env.DEVICE_MOUNTER_IMAGE ?? "";
  if (!image) check.problems.push("--image is required (or set DEVICE_MOUNTER_IMAGE): slave pods run the agent's own image");
  const cgroupDriver = check.text("cgroup-driver");
  if (!["cgroupfs", "systemd", "auto"].includes(cgroupDriver)) check.problems.push(`--cgroup-driver ${JSON.stringify(cgroupDriver)} must be cgroupfs, systemd or auto`);
  const kubepodsRoot = flags["kubepods-root"];
  if (kubepodsRoot !== undefined && !kubepodsRoot.startsWith("/")) check.problems.push(`--kubepods-root ${JSON.stringify(kubepodsRoot)} must be an absolute cgroup path`);
  const deviceTypesConfig = check.file("device-types-config");
  const repairIntervalMs = check.duration("repair-interval");
  if (repairIntervalMs > 0 && repairIntervalMs < 100) check.problems.push("--repair-interval must be at least 100ms");
  const killGraceMs = check.duration("kill-grace-period");
  check.done();
  return {
    ...(kubeconfig ? { kubeconfig } : {}),
    nodeName,
    securePort,
    bindAddress,
    ...(tlsCertFile ? { tlsCertFile, tlsPrivateKeyFile: tlsPrivateKeyFile! } : {}),
    allowedCallers,
    tokenAudiences: list(flags["token-audiences"]),
    image,
    podResourcesSocket: check.text("podresources-socket"),
    cgroupRoot: check.text("cgroup-root"),
    cgroupDriver: cgroupDriver as AgentOptions["cgroupDriver"],
    ...(kubepodsRoot ? { kubepodsRoot } : {}),
    nvidiaProcRoot: check.text("nvidia-proc-root"),
    devRoot: check.text("dev-root"),
    ...(deviceTypesConfig ? { deviceTypesConfig } : {}),
    repairIntervalMs,
    killGraceMs,
  };
}
