// Open-loop latency tests for bench/run.ts: a fixed total rate of 64-byte
// echoes over 256 connections, pipelined, each reply timed from its scheduled
// send time (`loadgen openloop`, the method of wrk2). The headline latency
// figure: a closed loop slows down with a stalled server and hides its tail.

/** Total request rates of the open-loop tests, in requests per second. */
export const OPEN_RATES = [20_000, 50_000, 80_000];
/** Connections the rate is spread over, as in `tcp-pingpong-c256`. */
export const OPEN_CONNS = 256;
/**
 * Seconds of load before an open-loop measurement, at least: the tail is a
 * steady-state figure, and a Deno server is not in its steady state for the
 * first second or so of load. Its JIT compiles the hot path on V8's worker
 * thread, which shares the server's one pinned core: 4–5 ms slices in which
 * the event loop does not run (bench/FINDINGS.md, "The tail at 20,000
 * req/s was the JIT's warm-up").
 */
export const OPEN_WARMUP_S = 2.5;
/** The servers measured open-loop: the module against the references. */
export const OPEN_SERVERS = ["module", "raw", "node", "c-epoll"];
/**
 * Measured only when named in `--servers=`: the prefork pool, whose second
 * worker shares the load generator's core on a 2-core machine.
 */
export const OPEN_OPTIONAL_SERVERS = ["workers-1", "workers-2"];

export interface OpenTest {
  id: string;
  title: string;
  rate: number;
  servers: string[];
}

export interface OpenSample {
  rate: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Requests of the measured interval whose replies never came back. */
  owed: number;
  errors: number;
  clientCpu: number;
  otherCpu: number;
  cpuPerOp: number;
}

export interface Started {
  pid: number;
  address: string;
  stop(): Promise<void>;
}

export function openTests(
  only: RegExp,
  onlyServers: string[] | undefined,
): OpenTest[] {
  return OPEN_RATES.map((rate) => ({
    id: `tcp-openloop-${rate / 1000}k`,
    title: `TCP open loop, ${
      rate.toLocaleString("en-US")
    } req/s over ${OPEN_CONNS} conn, 64 B`,
    rate,
    servers: onlyServers
      ? onlyServers.filter((s) =>
        OPEN_SERVERS.includes(s) || OPEN_OPTIONAL_SERVERS.includes(s)
      )
      : OPEN_SERVERS,
  })).filter((t) => only.test(t.id));
}

export async function measureOpen(
  test: OpenTest,
  start: () => Promise<Started>,
  loadgen: string,
  cpu: string,
  plan: { seconds: number; warmup: number },
): Promise<OpenSample> {
  const running = await start();
  try {
    const { code, stdout, stderr } = await new Deno.Command("taskset", {
      args: [
        "-c",
        cpu,
        loadgen,
        "openloop",
        running.address,
        "-r",
        String(test.rate),
        "-c",
        String(OPEN_CONNS),
        "-d",
        String(plan.seconds),
        "-w",
        String(Math.max(plan.warmup, OPEN_WARMUP_S)),
        "-p",
        String(running.pid),
      ],
    }).output();
    if (code !== 0) {
      throw new Error(
        `loadgen openloop ${running.address} failed: ${
          new TextDecoder().decode(stderr)
        }`,
      );
    }
    const r = JSON.parse(
      new TextDecoder().decode(stdout).trim().split("\n").at(-1)!,
    );
    return {
      rate: r.rate,
      p50: r.p50_us,
      p90: r.p90_us,
      p99: r.p99_us,
      p999: r.p999_us,
      max: r.max_us,
      owed: r.owed,
      errors: r.errors,
      clientCpu: r.client_cpu,
      otherCpu: r.other_cpu,
      cpuPerOp: r.ops > 0 ? (r.server_cpu * 1e6) / r.ops : NaN,
    };
  } finally {
    await running.stop();
  }
}

/** The median of the values that are numbers; NaN when there are none. */
export function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function ms(us: number): string {
  if (Number.isNaN(us)) return "–";
  const v = us / 1000;
  return v >= 100
    ? Math.round(v).toString()
    : v >= 10
    ? v.toFixed(1)
    : v.toFixed(2);
}

function range(values: number[]): string {
  const med = ms(median(values));
  if (values.length < 2) return med;
  return `${med} (${ms(Math.min(...values))}–${ms(Math.max(...values))})`;
}

const times = (a: number, b: number) =>
  b > 0 && !Number.isNaN(a) ? (a / b).toFixed(2) : "–";

/** The report's first section: one table per rate. */
export function openReport(
  tests: OpenTest[],
  samples: Map<string, OpenSample[]>,
  label: (id: string) => string,
): string[] {
  if (tests.length === 0) return [];
  const lines = [
    "## Latency at a fixed rate (open loop)",
    "",
    `Each test sends a fixed total rate of 64-byte echo requests spread evenly over ${OPEN_CONNS} connections, ` +
    "pipelined (a request is sent at its time whether or not the previous reply came back), " +
    "and times each reply from its *scheduled* send time, so a server that stalls is charged for every request that waited " +
    "(the method of wrk2). Latencies in ms, medians with min–max over the rounds; × columns compare with Node, the target. " +
    "*Owed*: requests of the measured interval still unanswered 1 s after it; *achieved*: replies per second.",
    "",
  ];
  for (const test of tests) {
    const node = samples.get(`${test.id} node`);
    const nodeP99 = node ? median(node.map((s) => s.p99)) : NaN;
    const nodeP999 = node ? median(node.map((s) => s.p999)) : NaN;
    lines.push(
      `### ${test.title}`,
      "",
      "| server | achieved req/s | p50 ms | p99 ms | × Node | p99.9 ms | × Node | max ms | owed | server CPU µs/op | other CPU |",
      "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    );
    for (const id of test.servers) {
      const list = samples.get(`${test.id} ${id}`);
      if (!list) continue;
      const p99 = median(list.map((s) => s.p99));
      const p999 = median(list.map((s) => s.p999));
      lines.push(
        `| ${label(id)} | ${
          Math.round(median(list.map((s) => s.rate))).toLocaleString("en-US")
        } | ${ms(median(list.map((s) => s.p50)))} | ${
          range(list.map((s) => s.p99))
        } | ${times(p99, nodeP99)} | ${range(list.map((s) => s.p999))} | ${
          times(p999, nodeP999)
        } | ${ms(median(list.map((s) => s.max)))} | ${
          median(list.map((s) => s.owed))
        } | ${median(list.map((s) => s.cpuPerOp)).toFixed(1)} | ${
          Math.round(median(list.map((s) => s.otherCpu)) * 100)
        } % |`,
      );
    }
    lines.push("");
  }
  return lines;
}

/** The latency targets: the module's p99 no higher than Node's at 20k and 50k. */
export function openTargets(
  tests: OpenTest[],
  samples: Map<string, OpenSample[]>,
): { name: string; value: number; goal: number }[] {
  return tests.filter((t) => t.rate <= 50_000).flatMap((test) => {
    const mod = samples.get(`${test.id} module`);
    const node = samples.get(`${test.id} node`);
    if (!mod || !node) return [];
    return [{
      name: `${test.id}: p99 × Node's`,
      value: median(mod.map((s) => s.p99)) / median(node.map((s) => s.p99)),
      goal: 1,
    }];
  });
}

/**
 * The chart's second panel: p99 latency per rate, one bar per server, on a
 * logarithmic scale (the servers differ by orders of magnitude).
 */
export function openChart(
  tests: OpenTest[],
  samples: Map<string, OpenSample[]>,
  top: number,
  labelWidth: number,
  plotWidth: number,
  colors: Record<string, string>,
  label: (id: string) => string,
): { svg: string; bottom: number } {
  if (tests.length === 0) return { svg: "", bottom: top };
  const bar = 9;
  const values = tests.flatMap((t) =>
    t.servers.flatMap((id) => {
      const list = samples.get(`${t.id} ${id}`);
      return list ? [median(list.map((s) => s.p99)) / 1000] : [];
    })
  ).filter((v) => v > 0);
  const lo = Math.min(0.1, ...values);
  const hi = Math.max(10, ...values);
  const decades = Math.log10(hi / lo);
  const x = (v: number) =>
    labelWidth + (Math.log10(v / lo) / decades) * plotWidth;
  const parts = [
    `<text x="10" y="${
      top + 18
    }" font-size="13" font-weight="bold">p99 latency at a fixed rate, open loop, ms (log scale; lower is better)</text>`,
  ];
  let y = top + 34;
  for (let d = Math.ceil(Math.log10(lo)); d <= Math.log10(hi); d++) {
    const v = 10 ** d;
    parts.push(
      `<text x="${x(v)}" y="${
        y - 2
      }" text-anchor="middle" font-size="8">${v} ms</text>`,
    );
  }
  y += 6;
  for (const test of tests) {
    const bars = test.servers.flatMap((id) => {
      const list = samples.get(`${test.id} ${id}`);
      return list ? [{ id, value: median(list.map((s) => s.p99)) / 1000 }] : [];
    });
    const height = bars.length * bar + 10;
    parts.push(
      `<text x="${labelWidth - 8}" y="${
        y + height / 2
      }" text-anchor="end" dominant-baseline="middle">${
        (test.rate / 1000).toFixed(0)
      }k req/s over ${OPEN_CONNS} conn</text>`,
    );
    bars.forEach((b, i) => {
      const w = Math.max(1, x(Math.max(b.value, lo)) - labelWidth);
      parts.push(
        `<rect x="${labelWidth}" y="${y + i * bar}" width="${
          w.toFixed(1)
        }" height="${bar - 1}" fill="${colors[b.id] ?? "#222"}"><title>${
          label(b.id)
        }: p99 ${b.value.toFixed(2)} ms</title></rect>`,
        `<text x="${labelWidth + w + 4}" y="${
          y + i * bar + bar / 2
        }" dominant-baseline="middle" font-size="8">${
          b.value.toFixed(2)
        }</text>`,
      );
    });
    y += height;
  }
  return { svg: parts.join("\n"), bottom: y };
}
