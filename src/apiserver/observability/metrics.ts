// A small Prometheus registry (text exposition format 0.0.4): counters,
// gauges and histograms with labels. Label values are escaped; series are
// printed in a stable order so that scrapes diff cleanly.

type Labels = Record<string, string>;

const escapeLabel = (value: string): string => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const escapeHelp = (value: string): string => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const formatNumber = (n: number): string => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN");

function labelText(labelNames: readonly string[], labels: Labels, extra?: [string, string]): string {
  const pairs = labelNames.map((name) => `${name}="${escapeLabel(labels[name] ?? "")}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length ? `{${pairs.join(",")}}` : "";
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}
  protected key(labels: Labels): string {
    return JSON.stringify(this.labelNames.map((n) => labels[n] ?? ""));
  }
  protected labelsOf(key: string): Labels {
    const values = JSON.parse(key) as string[];
    return Object.fromEntries(this.labelNames.map((n, i) => [n, values[i] ?? ""]));
  }
  abstract render(): string[];
}

export class Counter extends Metric {
  private readonly values = new Map<string, number>();
  inc(labels: Labels = {}, by = 1): void {
    const key = this.key(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} counter`];
    for (const key of [...this.values.keys()].sort()) lines.push(`${this.name}${labelText(this.labelNames, this.labelsOf(key))} ${formatNumber(this.values.get(key)!)}`);
    return lines;
  }
}

export class Gauge extends Metric {
  private readonly values = new Map<string, number>();
  add(labels: Labels, by: number): void {
    const key = this.key(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  set(labels: Labels, value: number): void {
    this.values.set(this.key(labels), value);
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} gauge`];
    for (const key of [...this.values.keys()].sort()) lines.push(`${this.name}${labelText(this.labelNames, this.labelsOf(key))} ${formatNumber(this.values.get(key)!)}`);
    return lines;
  }
}

interface HistogramSeries {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Metric {
  private readonly series = new Map<string, HistogramSeries>();
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
  }
  observe(labels: Labels, value: number): void {
    const key = this.key(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((upper, i) => {
      if (value <= upper) s.counts[i]!++;
    });
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} histogram`];
    for (const key of [...this.series.keys()].sort()) {
      const s = this.series.get(key)!;
      const labels = this.labelsOf(key);
      this.buckets.forEach((upper, i) => lines.push(`${this.name}_bucket${labelText(this.labelNames, labels, ["le", formatNumber(upper)])} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText(this.labelNames, labels, ["le", "+Inf"])} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(this.labelNames, labels)} ${formatNumber(s.sum)}`);
      lines.push(`${this.name}_count${labelText(this.labelNames, labels)} ${s.count}`);
    }
    return lines;
  }
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  register<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
  render(): string {
    return `${this.metrics.flatMap((m) => m.render()).join("\n")}\n`;
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The apiserver's own series. */
export function apiserverMetrics(registry = new MetricsRegistry()) {
  return {
    registry,
    requests: registry.register(new Counter("device_mounter_apiserver_requests_total", "HTTP requests served, by operation and status code.", ["operation", "code"])),
    requestDuration: registry.register(
      new Histogram("device_mounter_apiserver_request_duration_seconds", "Time from receiving a request to sending its response, by operation.", ["operation"], LATENCY_BUCKETS),
    ),
    inflight: registry.register(new Gauge("device_mounter_apiserver_inflight_requests", "Requests being served now, by operation.", ["operation"])),
    agentCalls: registry.register(new Counter("device_mounter_apiserver_agent_calls_total", "Calls to node agents, by operation and status code (0: no answer).", ["operation", "code"])),
    agentCallDuration: registry.register(
      new Histogram("device_mounter_apiserver_agent_call_duration_seconds", "Duration of calls to node agents, by operation.", ["operation"], LATENCY_BUCKETS),
    ),
  };
}
export type ApiserverMetrics = ReturnType<typeof apiserverMetrics>;
