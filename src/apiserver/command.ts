// `device-mounter apiserver`: options → validate → complete → run, until
// SIGTERM or SIGINT starts the graceful shutdown.
import { completeApiserverConfig } from "./config.ts";
import { jsonLogger } from "../observability/log.ts";
import { apiserverUsage, parseApiserverFlags, validateApiserverOptions } from "./options.ts";
import { runApiserver } from "./run.ts";

export async function apiserverCommand(argv: string[], out: (line: string) => void): Promise<void> {
  const flags = parseApiserverFlags(argv);
  if (flags.help) return out(apiserverUsage());
  const options = validateApiserverOptions(flags);
  const config = await completeApiserverConfig(options);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  try {
    await runApiserver(config, { logger: jsonLogger(), signal: stop.signal });
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}
