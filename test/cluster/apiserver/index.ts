// Public surface of the API-server stand-in used by the cluster-in-a-box.
export {
  startApiServer,
  type ApiServer,
  type ApiServerHandle,
  type ApiServerOptions,
  type KubeconfigOptions,
  type KubeconfigUser,
} from "./server.ts";
export type { Policy, PolicyRule, TokenIdentity, UserInfo } from "./auth.ts";
export type { APIServiceRegistration } from "./aggregator.ts";
export type { KeyPair } from "./pki.ts";
export type { KubeObject } from "./store.ts";
