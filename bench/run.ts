// Runs the benchmarks: the module's servers against raw Deno, Node and C,
// under one C load generator, and writes bench/results/RESULTS.md and
// bench/results/chart.svg.
//
//   deno run -A bench/run.ts [--quick] [--only=REGEX] [--out=DIR]
//
// --quick runs one short round (for development); the full run makes three
// interleaved rounds and fits in 15 minutes. --only keeps the tests whose id
// matches. Servers run pinned to CPU 0 and the load generator to CPU 1.
//
// Needs cc, taskset and node on PATH; Linux only (/proc).

const BENCH = new URL(".", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const BUILD = `${BENCH}.build`;
import {
  measureOpen,
  median,
  OPEN_WARMUP_S,
  openChart,
  openReport,
  type OpenSample,
  openTargets,
  openTests,
} from "./_openloop.ts";

const args = Deno.args;
let quick = args.includes("--quick");
const only = new RegExp(
  args.find((a) => a.startsWith("--only="))?.slice(7) ?? ".",
);
const outDir = args.find((a) => a.startsWith("--out="))?.slice(6) ??
  `${BENCH}results`;
/** Re-renders the report from a saved results.json, without measuring. */
const reportOnly = args.find((a) => a.startsWith("--report="))?.slice(9);

const flag = (name: string) =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
/** Keeps only these servers (for development): --servers=module,raw. */
const onlyServers = flag("servers")?.split(",");

/**
 * Rounds, measured seconds and warm-up seconds of each measurement: the full
 * run fits in 15 minutes; --rounds and --seconds override them.
 */
const PLAN = {
  ...(quick
    ? { rounds: 1, seconds: 1, warmup: 0.5, idleConns: 2_000 }
    : { rounds: 3, seconds: 2, warmup: 0.75, idleConns: 5_000 }),
  ...(flag("rounds") ? { rounds: Number(flag("rounds")) } : {}),
  ...(flag("seconds") ? { seconds: Number(flag("seconds")) } : {}),
};

/** The idle test waits this long after the last connection before reading RSS, so that lazy allocations have happened. */
const IDLE_SETTLE_MS = 1_000;

const SERVER_CPU = "0";
const CLIENT_CPU = "1";

// ---------------------------------------------------------------- servers

type Transport = "tcp" | "unix" | "udp";
type Kind = "echo" | "hello";

interface ServerDef {
  id: string;
  label: string;
  command: (kind: Kind, address: string) => string[];
  /** The CPUs it may run on: a pool of workers gets both, the client's too. */
  cpus?: string;
  /** Flags for the load generator against this server (a PROXY header). */
  loadArgs?: string[];
}

const DENO = [Deno.execPath(), "run", "-A", "--unstable-net"];
const hasWorkers = await exists(`${ROOT}workers.ts`);

const SERVERS: ServerDef[] = [
  {
    id: "module",
    label: "@sockets/net",
    command: (kind, address) => [
      ...DENO,
      `${BENCH}servers/module.ts`,
      kind,
      address,
    ],
  },
  {
    id: "raw",
    label: "raw Deno",
    command: (kind, address) => [
      ...DENO,
      `${BENCH}servers/raw_deno.ts`,
      kind,
      address,
    ],
  },
  {
    id: "node",
    label: "Node",
    command: (kind, address) => [
      "node",
      `${BENCH}servers/node.mjs`,
      kind,
      address,
    ],
  },
  {
    id: "c-epoll",
    label: "C epoll",
    command: (kind, address) => [`${BUILD}/epoll_server`, kind, address],
  },
  {
    id: "c-fork",
    label: "C fork",
    command: (kind, address) => [`${BUILD}/fork_server`, kind, address],
  },
];
if (hasWorkers) {
  for (const workers of [1, 2]) {
    SERVERS.push({
      id: `workers-${workers}`,
      label: `serveWorkers ×${workers}`,
      cpus: `${SERVER_CPU},${CLIENT_CPU}`,
      command: (kind, address) => [
        ...DENO,
        `${BENCH}servers/workers.ts`,
        kind,
        address,
        String(workers),
      ],
    });
  }
}

// TLS servers: the certificate and key are made into the temp dir by
// prepareTls() before the first TLS test (no key is committed).
const tlsFiles = () => [`${tmp}/cert.pem`, `${tmp}/key.pem`];
SERVERS.push(
  {
    id: "module-tls",
    label: "@sockets/net TLS",
    command: (kind, address) => [
      ...DENO,
      `${BENCH}servers/tls_module.ts`,
      kind,
      address,
      ...tlsFiles(),
    ],
  },
  {
    id: "raw-tls",
    label: "raw Deno TLS",
    command: (kind, address) => [
      ...DENO,
      `${BENCH}servers/tls_raw_deno.ts`,
      kind,
      address,
      ...tlsFiles(),
    ],
  },
  {
    id: "node-tls",
    label: "Node TLS",
    command: (kind, address) => [
      "node",
      `${BENCH}servers/tls_node.mjs`,
      kind,
      address,
      ...tlsFiles(),
    ],
  },
);
// The same greeting server reading a PROXY header first, v1 or v2.
for (const version of ["v1", "v2"]) {
  SERVERS.push({
    id: `module-proxy-${version}`,
    label: `@sockets/net, PROXY ${version}`,
    loadArgs: ["-P", version],
    command: (kind, address) => [
      ...DENO,
      `${BENCH}servers/proxy_module.ts`,
      kind,
      address,
    ],
  });
}

// The module with lingerTimeout: 0, for the connection-rate tests only when
// named in --servers: what lingering close costs.
SERVERS.push({
  id: "module-nolinger",
  label: "@sockets/net, lingerTimeout 0",
  command: (kind, address) => [
    ...DENO,
    `${BENCH}servers/module.ts`,
    kind,
    address,
    "nolinger",
  ],
});

// ------------------------------------------------------------------ tests

type Mode = "pingpong" | "bulk" | "connrate" | "udp";

interface TestDef {
  id: string;
  title: string;
  mode: Mode;
  transport: Transport;
  conns: number;
  servers: string[];
  /** What the server does; by default hello for connrate, echo otherwise. */
  kind?: Kind;
  /** The server the ratios compare with; by default raw Deno. */
  baseline?: string;
  /** The module's server in the targets; by default module. */
  subject?: string;
  /** Load from tls_loadgen.c, over TLS. */
  tls?: boolean;
}

const STREAM = ["module", "raw", "node", "c-epoll", "c-fork"];
const POOL = hasWorkers ? ["workers-1", "workers-2"] : [];
const TESTS: TestDef[] = [];
for (const transport of ["tcp", "unix"] as const) {
  const servers = transport === "tcp" ? [...STREAM, ...POOL] : STREAM;
  for (const conns of [1, 16, 256]) {
    TESTS.push({
      id: `${transport}-pingpong-c${conns}`,
      title: `${transport.toUpperCase()} ping-pong, 64 B, ${conns} conn`,
      mode: "pingpong",
      transport,
      conns,
      servers: conns === 1 ? servers.filter((s) => !POOL.includes(s)) : servers,
    });
  }
  TESTS.push({
    id: `${transport}-bulk-c1`,
    title: `${transport.toUpperCase()} bulk echo, 64 KiB writes, 1 conn`,
    mode: "bulk",
    transport,
    conns: 1,
    servers: servers.filter((s) => !POOL.includes(s)),
  });
  TESTS.push({
    id: `${transport}-connrate-c16`,
    title: `${transport.toUpperCase()} connection rate (greeting), 16 at once`,
    mode: "connrate",
    transport,
    conns: 16,
    servers: onlyServers?.includes("module-nolinger")
      ? [...servers, "module-nolinger"]
      : servers,
  });
}
for (const conns of [1, 16]) {
  TESTS.push({
    id: `udp-pingpong-c${conns}`,
    title: `UDP ping-pong, 64 B, ${conns} client${conns > 1 ? "s" : ""}`,
    mode: "udp",
    transport: "udp",
    conns,
    servers: ["module", "raw", "node", "c-epoll"],
  });
}

// TLS: full handshakes (each with one 64-byte echo), bulk and ping-pong.
const TLS_SERVERS = ["module-tls", "raw-tls", "node-tls"];
for (
  const [mode, conns, what] of [
    ["connrate", 16, "handshakes (connect, handshake, 64 B echo, close)"],
    ["bulk", 1, "bulk echo, 64 KiB writes"],
    ["pingpong", 16, "ping-pong, 64 B"],
  ] as const
) {
  TESTS.push({
    id: `tls-${mode === "connrate" ? "handshake" : mode}-c${conns}`,
    title: `TLS ${what}, ${conns} ${mode === "connrate" ? "at once" : "conn"}`,
    mode,
    transport: "tcp",
    conns,
    servers: TLS_SERVERS,
    kind: "echo",
    baseline: "raw-tls",
    subject: "module-tls",
    tls: true,
  });
}
// PROXY: the greeting connection rate with a v1 or v2 header read first.
TESTS.push({
  id: "proxy-connrate-c16",
  title: "TCP connection rate (greeting) behind a PROXY header, 16 at once",
  mode: "connrate",
  transport: "tcp",
  conns: 16,
  servers: ["module-proxy-v1", "module-proxy-v2", "module", "raw"],
});

const IDLE_SERVERS = ["module", "raw", "node", "c-epoll"];

// Open-loop latency: the headline latency figure (bench/_openloop.ts).
const openTestList = openTests(only, onlyServers).map((t) => ({
  ...t,
  servers: t.servers.filter((s) => SERVERS.some((d) => d.id === s)),
}));
const openSamples = new Map<string, OpenSample[]>();

// ------------------------------------------------------------ measurement

interface Sample {
  rate: number;
  mbps: number;
  p50: number;
  p99: number;
  errors: number;
  lost: number;
  clientCpu: number;
  /** CPU that other programs on the machine used meanwhile, in cores. */
  otherCpu: number;
  /** Server CPU microseconds per operation (per 64 KiB for bulk). */
  cpuPerOp: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** When `source` or the header both load generators include last changed. */
async function newestSource(source: string): Promise<Date> {
  const times = await Promise.all(
    [source, `${BENCH}_loadgen_common.h`].map(async (path) =>
      (await Deno.stat(path)).mtime!
    ),
  );
  return times.reduce((a, b) => (a > b ? a : b));
}

async function build(): Promise<void> {
  await Deno.mkdir(BUILD, { recursive: true });
  const sources = {
    loadgen: `${BENCH}loadgen.c`,
    epoll_server: `${BENCH}servers/epoll_server.c`,
    fork_server: `${BENCH}servers/fork_server.c`,
  };
  for (const [name, source] of Object.entries(sources)) {
    const binary = `${BUILD}/${name}`;
    const built = await Deno.stat(binary).catch(() => null);
    if (built && built.mtime! >= await newestSource(source)) continue;
    const { code, stderr } = await new Deno.Command("cc", {
      args: ["-O2", "-Wall", "-o", binary, source],
    }).output();
    if (code !== 0) {
      throw new Error(
        `cc ${source} failed:\n${new TextDecoder().decode(stderr)}`,
      );
    }
  }
}

/**
 * Builds tls_loadgen.c and makes a throwaway certificate (ECDSA P-256, for
 * 127.0.0.1) into the temp dir; returns why TLS cannot run, or undefined.
 */
async function prepareTls(): Promise<string | undefined> {
  const binary = `${BUILD}/tls_loadgen`;
  const source = `${BENCH}tls_loadgen.c`;
  const built = await Deno.stat(binary).catch(() => null);
  if (!built || built.mtime! < await newestSource(source)) {
    const cc = await new Deno.Command("cc", {
      args: ["-O2", "-Wall", "-o", binary, source, "-lssl", "-lcrypto"],
      stderr: "piped",
    }).output();
    if (cc.code !== 0) {
      return `tls_loadgen.c did not build against OpenSSL (install libssl-dev): ${
        new TextDecoder().decode(cc.stderr).split("\n")[0]
      }`;
    }
  }
  const req = await new Deno.Command("openssl", {
    args: [
      ..."req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
        .split(" "),
      "-keyout",
      `${tmp}/key.pem`,
      "-out",
      `${tmp}/cert.pem`,
    ],
    stderr: "piped",
  }).output().catch(() => null);
  if (!req || req.code !== 0) {
    return "openssl req could not make a certificate (install openssl)";
  }
  return undefined;
}

/** The hard limit of open files: servers and the load generator get it as their soft limit. */
async function hardFileLimit(): Promise<number> {
  const limits = await Deno.readTextFile("/proc/self/limits");
  const line = limits.split("\n").find((l) => l.startsWith("Max open files"));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === undefined || hard === "unlimited" ? 65_536 : Number(hard);
}
const FILE_LIMIT = await hardFileLimit();

let nextPort = 20_000 + Math.floor(Math.random() * 10_000);
const tmp = await Deno.makeTempDir({ prefix: "sockets-net-bench-" });

function addressFor(transport: Transport, id: string): string {
  if (transport === "unix") return `unix:${tmp}/${id}.sock`;
  return `${transport}:127.0.0.1:${nextPort++}`;
}

interface Running {
  pid: number;
  address: string;
  stop(): Promise<void>;
}

async function startServer(
  server: ServerDef,
  kind: Kind,
  transport: Transport,
): Promise<Running> {
  const address = addressFor(transport, server.id);
  const [program, ...rest] = server.command(kind, address);
  const child = new Deno.Command("taskset", {
    args: [
      "-c",
      server.cpus ?? SERVER_CPU,
      "prlimit",
      `--nofile=${FILE_LIMIT}:${FILE_LIMIT}`,
      program,
      ...rest,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 10_000);
  while (!seen.includes("LISTENING")) {
    const { value, done } = await reader.read();
    if (done) {
      clearTimeout(deadline);
      throw new Error(`${server.label} did not start on ${address}`);
    }
    seen += value;
  }
  clearTimeout(deadline);
  // Keep draining stdout so that a chatty server never blocks.
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  // taskset and prlimit exec the server: the child's pid is the server's.
  return {
    pid: child.pid,
    address,
    async stop() {
      // The fork server's children hold connections of their own.
      if (server.id === "c-fork") {
        await new Deno.Command("pkill", {
          args: ["-KILL", "-P", `${child.pid}`],
        }).output().catch(() => {});
      }
      try {
        child.kill("SIGKILL");
      } catch { /* gone already */ }
      await child.status;
    },
  };
}

async function loadgen(
  mode: string,
  address: string,
  conns: number,
  pid: number,
  extra: string[] = [],
  program = "loadgen",
): Promise<Record<string, number>> {
  const { code, stdout, stderr } = await new Deno.Command("taskset", {
    args: [
      "-c",
      CLIENT_CPU,
      `${BUILD}/${program}`,
      mode,
      address,
      "-c",
      String(conns),
      "-d",
      String(PLAN.seconds),
      "-w",
      String(PLAN.warmup),
      "-p",
      String(pid),
      ...extra,
    ],
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (code !== 0) {
    throw new Error(
      `loadgen ${mode} ${address} failed: ${new TextDecoder().decode(stderr)}`,
    );
  }
  return JSON.parse(text.trim().split("\n").at(-1)!);
}

async function measure(test: TestDef, server: ServerDef): Promise<Sample> {
  const kind: Kind = test.kind ??
    (test.mode === "connrate" ? "hello" : "echo");
  const running = await startServer(server, kind, test.transport);
  try {
    const r = await loadgen(
      test.mode,
      running.address,
      test.conns,
      running.pid,
      server.loadArgs,
      test.tls ? "tls_loadgen" : "loadgen",
    );
    return {
      rate: r.rate,
      mbps: r.mbps,
      p50: r.p50_us,
      p99: r.p99_us,
      errors: r.errors,
      lost: r.lost,
      clientCpu: r.client_cpu,
      otherCpu: r.other_cpu,
      cpuPerOp: r.ops > 0 ? (r.server_cpu * 1e6) / r.ops : NaN,
    };
  } finally {
    await running.stop();
  }
}

async function rssKb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

interface IdleSample {
  kbPerConn: number;
  /** Per connection of a second batch as large as the first: the cost at scale, without the fixed costs that the first batch pays (the young generation's growth, tables sized once). */
  marginalKbPerConn?: number;
  baseKb: number;
  alive: number;
}

/** `PLAN.idleConns` idle connections from one load generator, open once it said READY. */
async function openIdle(address: string, label: string) {
  const child = new Deno.Command("taskset", {
    args: [
      "-c",
      CLIENT_CPU,
      `${BUILD}/loadgen`,
      "idle",
      address,
      "-c",
      String(PLAN.idleConns),
    ],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  while (!text.includes("READY")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`idle load on ${label} failed`);
    text += value;
  }
  return {
    /** Closes the connections; resolves to how many were still alive. */
    async close(): Promise<number> {
      await child.stdin.close();
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      await child.status;
      return JSON.parse(text.trim().split("\n").at(-1)!).alive;
    },
  };
}

async function measureIdle(server: ServerDef): Promise<IdleSample> {
  const running = await startServer(server, "echo", "tcp");
  try {
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const before = await rssKb(running.pid);
    const first = await openIdle(running.address, server.label);
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const after = await rssKb(running.pid);
    const second = await openIdle(running.address, server.label);
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const afterSecond = await rssKb(running.pid);
    const alive = await first.close();
    await second.close();
    return {
      kbPerConn: ((after - before) * 1024) / 1000 / PLAN.idleConns,
      marginalKbPerConn: ((afterSecond - after) * 1024) / 1000 /
        PLAN.idleConns,
      baseKb: before,
      alive,
    };
  } finally {
    await running.stop();
  }
}

// ------------------------------------------------------------------- run

if (!reportOnly) await build();
/** Why the TLS tests were skipped, if they were. */
const tlsSkipped = !reportOnly && TESTS.some((t) => t.tls && only.test(t.id))
  ? await prepareTls()
  : undefined;
if (tlsSkipped) console.log(`TLS tests skipped: ${tlsSkipped}`);
const serversById = new Map(SERVERS.map((s) => [s.id, s]));
const tests = TESTS.filter((t) => only.test(t.id) && !(t.tls && tlsSkipped))
  .map((t) => ({
    ...t,
    servers: t.servers.filter((s) => !onlyServers || onlyServers.includes(s)),
  }));
const samples = new Map<string, Sample[]>();
const idle = new Map<string, IdleSample[]>();
const key = (test: string, server: string) => `${test} ${server}`;
let minutes = 0;
if (reportOnly) {
  const saved = JSON.parse(await Deno.readTextFile(reportOnly));
  Object.assign(PLAN, saved.plan);
  minutes = saved.minutes;
  quick = saved.quick;
  for (const [k, v] of Object.entries(saved.samples)) {
    samples.set(k, v as Sample[]);
  }
  for (const [k, v] of Object.entries(saved.idle)) {
    idle.set(k, v as IdleSample[]);
  }
  for (const [k, v] of Object.entries(saved.open ?? {})) {
    openSamples.set(k, v as OpenSample[]);
  }
} else {
  const started = Date.now();

  for (let round = 0; round < PLAN.rounds; round++) {
    for (const test of tests) {
      // Rotate the order each round, so that no server always runs first.
      const order = test.servers.map((_, i, a) => a[(i + round) % a.length]);
      for (const id of order) {
        const server = serversById.get(id)!;
        const sample = await measure(test, server);
        const list = samples.get(key(test.id, id)) ?? [];
        list.push(sample);
        samples.set(key(test.id, id), list);
        console.log(
          `round ${round + 1} ${test.id.padEnd(20)} ${
            server.label.padEnd(16)
          } ${format(test.mode === "bulk" ? sample.mbps : sample.rate)}${
            test.mode === "bulk" ? " MB/s" : "/s"
          }  p99 ${sample.p99} µs  cpu ${
            sample.cpuPerOp.toFixed(1)
          } µs/op  client ${(sample.clientCpu * 100).toFixed(0)}%  other ${
            (sample.otherCpu * 100).toFixed(0)
          }%`,
        );
      }
    }
    for (const test of openTestList) {
      const order = test.servers.map((_, i, a) => a[(i + round) % a.length]);
      for (const id of order) {
        const server = serversById.get(id)!;
        const sample = await measureOpen(
          test,
          () => startServer(server, "echo", "tcp"),
          `${BUILD}/loadgen`,
          CLIENT_CPU,
          PLAN,
        );
        const list = openSamples.get(key(test.id, id)) ?? [];
        list.push(sample);
        openSamples.set(key(test.id, id), list);
        console.log(
          `round ${round + 1} ${test.id.padEnd(20)} ${
            server.label.padEnd(16)
          } ${
            format(sample.rate)
          }/s  p50 ${sample.p50} p99 ${sample.p99} p99.9 ${sample.p999} µs  owed ${sample.owed}  other ${
            (sample.otherCpu * 100).toFixed(0)
          }%`,
        );
      }
    }
    if (only.test("idle")) {
      for (const id of IDLE_SERVERS) {
        if (onlyServers && !onlyServers.includes(id)) continue;
        const sample = await measureIdle(serversById.get(id)!);
        const list = idle.get(id) ?? [];
        list.push(sample);
        idle.set(id, list);
        console.log(
          `round ${round + 1} idle ${PLAN.idleConns}        ${
            serversById.get(id)!.label.padEnd(16)
          } ${sample.kbPerConn.toFixed(1)} KB/conn (alive ${sample.alive})`,
        );
      }
    }
  }
  minutes = (Date.now() - started) / 60_000;
}

// ---------------------------------------------------------------- report

function format(value: number): string {
  if (Number.isNaN(value)) return "–";
  if (value >= 100) return Math.round(value).toLocaleString("en-US");
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function spread(values: number[]): string {
  const med = format(median(values));
  if (values.length < 2) return med;
  return `${med} (${format(Math.min(...values))}–${
    format(Math.max(...values))
  })`;
}

interface Summary {
  throughput: number;
  cpu: number;
  p99: number;
}

function summary(test: TestDef, server: string): Summary | undefined {
  const list = samples.get(key(test.id, server));
  if (!list) return undefined;
  return {
    throughput: median(list.map((s) => test.mode === "bulk" ? s.mbps : s.rate)),
    cpu: median(list.map((s) => s.cpuPerOp)),
    p99: median(list.map((s) => s.p99)),
  };
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);

const lines: string[] = [];
const cpuModel = (await Deno.readTextFile("/proc/cpuinfo")).match(
  /model name\s*:\s*(.*)/,
)?.[1] ?? "unknown CPU";
const versions = {
  deno: Deno.version.deno,
  node: new TextDecoder().decode(
    (await new Deno.Command("node", { args: ["--version"] }).output()).stdout,
  ).trim(),
};
lines.push(
  "# Benchmark results",
  "",
  `One run of \`deno task bench${quick ? " --quick" : ""}\` on ${
    new Date().toISOString().slice(0, 10)
  }: ${cpuModel}, ${navigator.hardwareConcurrency} CPUs, ${Deno.build.os}; Deno ${versions.deno}, Node ${versions.node}. ${PLAN.rounds} interleaved round${
    PLAN.rounds > 1 ? "s" : ""
  } of ${PLAN.seconds} s per measurement after ${PLAN.warmup} s of warm-up (${
    Math.max(PLAN.warmup, OPEN_WARMUP_S)
  } s for the open loop), a fresh server for each; ${
    minutes.toFixed(1)
  } minutes in all.`,
  "",
  `Servers run pinned to CPU ${SERVER_CPU}, the C load generator (\`bench/loadgen.c\`, one epoll thread) to CPU ${CLIENT_CPU}. ` +
    "Figures are medians with min–max over the rounds; ratios compare medians with raw Deno's. " +
    "*Server CPU* is the server's user + system time (children included) over the measured interval, per operation: " +
    "per request, per connection, or per 64 KiB echoed for bulk. " +
    "*Client CPU* is the load generator's share of its core: near 100 % means the row is bound by the client, not the server. " +
    "*Other CPU* is what the rest of the machine used meanwhile (from /proc/stat, in % of one core): this machine is shared, and a row with much of it was measured under interference.",
  "",
);
if (!hasWorkers) {
  lines.push(
    "The prefork pool (`serveWorkers`) has no rows: `workers.ts` did not exist when this ran.",
    "",
  );
}

if (tlsSkipped) lines.push(`The TLS tests have no rows: ${tlsSkipped}.`, "");
lines.push(
  ...openReport(openTestList, openSamples, (id) => serversById.get(id)!.label),
);

for (const test of tests) {
  const raw = summary(test, test.baseline ?? "raw");
  const unit = test.mode === "bulk"
    ? "MB/s"
    : test.mode === "connrate"
    ? "conn/s"
    : "req/s";
  lines.push(`## ${test.title}`, "");
  lines.push(
    `| server | ${unit} | × raw Deno | p50 µs | p99 µs | server CPU µs/op | × raw Deno | client CPU | other CPU |`,
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
  );
  for (const id of test.servers) {
    const list = samples.get(key(test.id, id));
    const s = summary(test, id);
    if (!list || !s) continue;
    const notes = list.some((x) => x.errors > 0 || x.lost > 0)
      ? ` (errors ${median(list.map((x) => x.errors))}, lost ${
        median(list.map((x) => x.lost))
      })`
      : "";
    lines.push(
      `| ${serversById.get(id)!.label}${notes} | ${
        spread(list.map((x) => test.mode === "bulk" ? x.mbps : x.rate))
      } | ${raw ? ratio(s.throughput, raw.throughput).toFixed(2) : "–"} | ${
        format(median(list.map((x) => x.p50)))
      } | ${spread(list.map((x) => x.p99))} | ${
        spread(list.map((x) => x.cpuPerOp))
      } | ${raw ? ratio(s.cpu, raw.cpu).toFixed(2) : "–"} | ${
        Math.round(median(list.map((x) => x.clientCpu)) * 100)
      } % | ${Math.round(median(list.map((x) => x.otherCpu)) * 100)} % |`,
    );
  }
  lines.push("");
}

if (idle.size > 0) {
  lines.push(
    `## Idle memory, ${
      PLAN.idleConns.toLocaleString("en-US")
    } open TCP connections`,
    "",
    "Each connection is echoed once (so every handler runs and holds its buffer), then held idle; " +
      `per connection = (VmRSS with them − VmRSS before) / ${PLAN.idleConns}, read ${IDLE_SETTLE_MS} ms after the last echo. ` +
      `Then ${
        PLAN.idleConns.toLocaleString("en-US")
      } more: _per further connection_ is what each of those added, ` +
      "the cost at scale once the fixed costs that the first ones pay (a grown young generation, tables sized once) are paid.",
    "",
    "| server | KB per connection | × Node | KB per further connection | × Node | RSS before, MB |",
    "|---|--:|--:|--:|--:|--:|",
  );
  const nodeIdle = idle.get("node");
  const ofNode = (list: IdleSample[], pick: (x: IdleSample) => number) =>
    nodeIdle
      ? format(ratio(median(list.map(pick)), median(nodeIdle.map(pick))))
      : "";
  for (const id of IDLE_SERVERS) {
    const list = idle.get(id);
    if (!list) continue;
    const further = list.filter((x) => x.marginalKbPerConn !== undefined);
    lines.push(
      `| ${serversById.get(id)!.label} | ${
        spread(list.map((x) => x.kbPerConn))
      } | ${ofNode(list, (x) => x.kbPerConn)} | ${
        further.length > 0
          ? spread(further.map((x) => x.marginalKbPerConn!))
          : ""
      } | ${
        further.length > 0 ? ofNode(further, (x) => x.marginalKbPerConn!) : ""
      } | ${format(median(list.map((x) => x.baseKb)) / 1024)} |`,
    );
  }
  lines.push("");
}

// Targets: computed from this run, met or not.
const targets: string[] = [];
function check(name: string, value: number, goal: number, atMost = false) {
  if (Number.isNaN(value)) return;
  const met = atMost ? value <= goal : value >= goal;
  targets.push(
    `| ${name} | ${value.toFixed(2)} | ${atMost ? "≤" : "≥"} ${goal} | ${
      met ? "met" : "**missed**"
    } |`,
  );
}
for (const test of tests) {
  const mod = summary(test, test.subject ?? "module");
  const raw = summary(test, test.baseline ?? "raw");
  if (!mod || !raw) continue;
  check(
    `${test.id}: throughput × raw Deno`,
    ratio(mod.throughput, raw.throughput),
    0.97,
  );
  if (test.mode !== "udp") {
    check(
      `${test.id}: server CPU/op × raw Deno`,
      ratio(mod.cpu, raw.cpu),
      1.05,
      true,
    );
  }
  const node = summary(test, "node");
  if (test.id === "tcp-pingpong-c256" && node) {
    check(`${test.id}: p99 × Node's`, ratio(mod.p99, node.p99), 1, true);
  }
  if (test.mode === "udp" && node) {
    check(
      `${test.id}: throughput × Node`,
      ratio(mod.throughput, node.throughput),
      1,
    );
  }
  if (test.mode === "connrate") {
    const fork = summary(test, "c-fork");
    if (fork) {
      check(
        `${test.id}: conn/s × C fork`,
        ratio(mod.throughput, fork.throughput),
        4.5,
      );
    }
    if (node) {
      check(
        `${test.id}: conn/s × Node`,
        ratio(mod.throughput, node.throughput),
        1,
      );
    }
  }
}
const idleModule = idle.get("module");
if (idleModule) {
  check(
    "idle KB per connection (module echo)",
    median(idleModule.map((x) => x.kbPerConn)),
    9,
    true,
  );
  const idleNode = idle.get("node");
  const further = (list: IdleSample[]) =>
    median(list.flatMap((x) => x.marginalKbPerConn ?? []));
  if (idleNode) {
    check(
      "idle KB per connection × Node's",
      ratio(
        median(idleModule.map((x) => x.kbPerConn)),
        median(idleNode.map((x) => x.kbPerConn)),
      ),
      1,
      true,
    );
    check(
      "idle KB per further connection × Node's",
      ratio(further(idleModule), further(idleNode)),
      1,
      true,
    );
  }
}
for (const t of openTargets(openTestList, openSamples)) {
  check(t.name, t.value, t.goal, true);
}
if (targets.length > 0) {
  lines.push(
    "## Targets",
    "",
    "| target | measured | goal | |",
    "|---|--:|--:|---|",
    ...targets,
    "",
  );
}

// What the tables mean and why targets were missed: written by hand from a
// run, kept in its own file so that a rerun keeps it (and says so).
const findings = await Deno.readTextFile(`${BENCH}FINDINGS.md`).catch(() => "");
if (findings) lines.push(findings.replace(/^# /m, "## "));

await Deno.mkdir(outDir, { recursive: true });
await Deno.writeTextFile(`${outDir}/RESULTS.md`, lines.join("\n"));
await Deno.writeTextFile(
  `${outDir}/results.json`,
  JSON.stringify(
    {
      plan: PLAN,
      minutes,
      quick,
      samples: Object.fromEntries(samples),
      idle: Object.fromEntries(idle),
      open: Object.fromEntries(openSamples),
    },
    null,
    1,
  ) + "\n",
);
await Deno.writeTextFile(`${outDir}/chart.svg`, chart());
await Deno.remove(tmp, { recursive: true });
// The outputs live in the repository: keep them as `deno fmt` wants them.
await new Deno.Command(Deno.execPath(), {
  args: ["fmt", "--quiet", outDir],
}).output();
console.log(`wrote ${outDir}/RESULTS.md and chart.svg`);

// ----------------------------------------------------------------- chart

/** Bars of throughput × raw Deno, one group per test. */
function chart(): string {
  const shown = [
    "module",
    "node",
    "c-epoll",
    "c-fork",
    ...POOL,
    "module-tls",
    "node-tls",
    "module-proxy-v1",
    "module-proxy-v2",
  ];
  const colors: Record<string, string> = {
    module: "#2b6cb0",
    node: "#68a063",
    "c-epoll": "#777777",
    "c-fork": "#bbbbbb",
    "workers-1": "#90cdf4",
    "workers-2": "#63b3ed",
    "module-tls": "#2b6cb0",
    "node-tls": "#68a063",
    "module-proxy-v1": "#805ad5",
    "module-proxy-v2": "#b794f4",
  };
  const rows = tests.map((test) => ({
    test,
    bars: shown.flatMap((id) => {
      const s = summary(test, id);
      const raw = summary(test, test.baseline ?? "raw");
      return s && raw
        ? [{ id, value: ratio(s.throughput, raw.throughput) }]
        : [];
    }),
  }));
  const bar = 9;
  const labelWidth = 250;
  const plotWidth = 420;
  const max = Math.max(2, ...rows.flatMap((r) => r.bars.map((b) => b.value)));
  const scale = plotWidth / max;
  let y = 64;
  const parts: string[] = [];
  for (const row of rows) {
    const height = row.bars.length * bar + 10;
    parts.push(
      `<text x="${labelWidth - 8}" y="${
        y + height / 2
      }" text-anchor="end" dominant-baseline="middle">${
        escape(row.test.title)
      }</text>`,
    );
    row.bars.forEach((b, i) => {
      const w = Math.max(1, b.value * scale);
      parts.push(
        `<rect x="${labelWidth}" y="${y + i * bar}" width="${
          w.toFixed(1)
        }" height="${bar - 1}" fill="${colors[b.id]}"><title>${
          escape(serversById.get(b.id)!.label)
        }: ${b.value.toFixed(2)}×</title></rect>`,
        `<text x="${labelWidth + w + 4}" y="${
          y + i * bar + bar / 2
        }" dominant-baseline="middle" font-size="8">${
          b.value.toFixed(2)
        }</text>`,
      );
    });
    y += height;
  }
  const one = labelWidth + scale;
  const legend = shown.filter((id) =>
    rows.some((r) => r.bars.some((b) => b.id === id))
  )
    .map((id, i) => {
      const x = labelWidth + (i % 4) * 110;
      const top = 26 + Math.floor(i / 4) * 14;
      return `<rect x="${x}" y="${top}" width="10" height="10" fill="${
        colors[id]
      }"/><text x="${x + 14}" y="${top + 9}">${
        escape(serversById.get(id)!.label)
      }</text>`;
    });
  const width = labelWidth + plotWidth + 60;
  const open = openChart(
    openTestList,
    openSamples,
    y + 20,
    labelWidth,
    plotWidth,
    { ...colors, raw: "#c53030" },
    (id) => serversById.get(id)!.label,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${
    open.bottom + 20
  }" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="18" font-size="13" font-weight="bold">Throughput relative to raw Deno (1.0 = raw Deno; higher is better)</text>
${legend.join("\n")}
<line x1="${one}" y1="56" x2="${one}" y2="${y}" stroke="#c53030" stroke-dasharray="3,3"/>
<text x="${one}" y="${
    y + 12
  }" text-anchor="middle" fill="#c53030">raw Deno</text>
${parts.join("\n")}
${open.svg}
</svg>
`;
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(
    />/g,
    "&gt;",
  );
}
