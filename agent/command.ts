// `device-mounter agent`, until SIGTERM or SIGINT.
import { jsonLogger } from "../src/observability/log.ts";
import { agentUsage, parseAgentFlags, validateAgentOptions } from "./options.ts";
import { completeAgentConfig, runAgent } from "./run.ts";

export async function agentCommand(argv: string[], out: (line: string) => void): Promise<void> {
  const flags = parseAgentFlags(argv);
  if (flags.help) return out(agentUsage());
  const config = completeAgentConfig(validateAgentOptions(flags));
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  try {
    await runAgent(config, { logger: jsonLogger(), signal: stop.signal });
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}
