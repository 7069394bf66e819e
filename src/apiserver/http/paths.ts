// The apiserver's URL space.
import { API_GROUP, GROUP_VERSION } from "../../api/public.ts";

export const GROUP_PATH = `/apis/${API_GROUP}`;
export const VERSION_PATH = `/apis/${GROUP_VERSION}`;
export const MOUNT_PATH = `${VERSION_PATH}/namespaces/:namespace/pods/:name/mount`;
export const UNMOUNT_PATH = `${VERSION_PATH}/namespaces/:namespace/pods/:name/unmount`;
export const OPENAPI_V3_GROUP_PATH = `/openapi/v3/apis/${GROUP_VERSION}`;

const escaped = VERSION_PATH.replace(/[.]/g, "\\.");
export const MOUNT_ROUTE = new RegExp(`^${escaped}/namespaces/[^/]+/pods/[^/]+/mount$`);
export const UNMOUNT_ROUTE = new RegExp(`^${escaped}/namespaces/[^/]+/pods/[^/]+/unmount$`);

const HEALTH = /^\/(healthz|livez|readyz)(\/[^/]+)?$/;
const PUBLIC_EXACT = new Set(["/apis", GROUP_PATH, VERSION_PATH, "/openapi/v2", "/openapi/v3", OPENAPI_V3_GROUP_PATH]);

/** Health and discovery: served to anyone, without authentication or authorization. */
export const isPublicPath = (path: string): boolean => HEALTH.test(path) || PUBLIC_EXACT.has(path);
