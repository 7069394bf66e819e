// The request body of a mount: bounded in size (413), JSON only (415),
// well-formed (400). A body without Content-Type is read as JSON, as
// kube-apiserver reads it (its first supported media type): `kubectl replace
// --raw -f body.json` sends none.
import { bodyLimit } from "hono/body-limit";
import { StatusError } from "../../api/status.ts";
import type { ApiserverContext } from "./env.ts";

export function limitBody(maxBytes: number) {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new StatusError("RequestEntityTooLarge", `the request body is larger than the limit of ${maxBytes} bytes`);
    },
  });
}

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

/** The body parsed as JSON; the caller validates its shape. */
export async function readJsonBody(c: ApiserverContext): Promise<unknown> {
  const contentType = c.req.header("content-type");
  if (contentType && !JSON_MEDIA_TYPE.test(contentType.trim())) {
    throw new StatusError("UnsupportedMediaType", `Content-Type ${JSON.stringify(contentType)} is not supported: send the body as application/json`);
  }
  const text = await c.req.text();
  if (text.trim() === "") throw new StatusError("BadRequest", 'the request body is empty: send a JSON object such as {"resources": {"nvidia.com/gpu": "1"}}');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StatusError("BadRequest", `the request body is not valid JSON: ${(e as Error).message}`);
  }
}
