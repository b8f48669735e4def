// Garbage collection against the open-loop tail: runs one echo server with
// V8's --trace-gc under `loadgen openloop`, and prints the latency figures
// beside the count and length of the collector's pauses in the measured run.
//
//   deno run -A bench/tail_gc.ts SERVER RATE [V8FLAG,...]
//
// SERVER is module, raw or node-in-deno (bench/servers/node.mjs run by Deno:
// node:net inside Deno); RATE is the
// total request rate over 256 connections; V8FLAGs are added to
// --trace-gc (such as --max-semi-space-size=16). Build the load generator
// first (cc -O2 -o bench/.build/loadgen bench/loadgen.c).
const BENCH = new URL(".", import.meta.url).pathname;
const [server = "module", rate = "20000", flags = ""] = Deno.args;
const script = {
  module: "servers/module.ts",
  raw: "servers/raw_deno.ts",
  "node-in-deno": "servers/node.mjs",
}[server];
if (!script) {
  throw new Error(`unknown server ${server}: module, raw or node-in-deno`);
}
const v8 = ["--trace-gc", ...flags.split(",").filter(Boolean)].join(",");
// V8 prints the trace with stdio, block-buffered into a pipe: stdbuf makes
// it line-buffered, so each pause arrives when it happens.
const child = new Deno.Command("taskset", {
  args: [
    "-c",
    "0",
    "stdbuf",
    "-oL",
    Deno.execPath(),
    "run",
    "-A",
    "--unstable-net",
    `--v8-flags=${v8}`,
    `${BENCH}${script}`,
    "echo",
    "tcp:127.0.0.1:0",
  ],
  stdout: "piped",
}).spawn();
const out: string[] = [];
let result;
let lines: string[];
let drain: Promise<void> | undefined;
// The server is killed however this ends: Deno leaves child processes running.
try {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/LISTENING \d+\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${server} did not start`);
    text += value;
  }
  const port = /LISTENING (\d+)/.exec(text)![1];
  drain = (async () => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      out.push(value);
    }
  })();
  const gcBefore = () => out.join("").split("\n").length;
  await new Promise((r) => setTimeout(r, 300));
  const load = new Deno.Command("taskset", {
    args: [
      "-c",
      "1",
      `${BENCH}.build/loadgen`,
      "openloop",
      `tcp:127.0.0.1:${port}`,
      "-r",
      rate,
      "-c",
      "256",
      "-d",
      "4",
      "-w",
      "1",
      "-p",
      String(child.pid),
    ],
  }).output();
  // The warm-up second's collections are left out: mark the start.
  await new Promise((r) => setTimeout(r, 1_000));
  const mark = gcBefore();
  result = JSON.parse(new TextDecoder().decode((await load).stdout));
  lines = out.join("").split("\n").slice(mark);
} finally {
  try {
    child.kill("SIGKILL");
  } catch {
    // It exited already.
  }
  await child.status;
}
await drain?.catch(() => {});
const pauses = {
  Scavenge: [] as number[],
  "Mark-Compact": [] as number[],
  other: [] as number[],
};
for (const line of lines) {
  const m =
    /(Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Sweep)\S*\s.*?->.*?,\s*([\d.]+)\s*\/\s*([\d.]+)\s*ms/
      .exec(line);
  if (!m) continue;
  const kind = m[1] === "Scavenge"
    ? "Scavenge"
    : m[1].startsWith("Mark-")
    ? "Mark-Compact"
    : "other";
  pauses[kind].push(Number(m[2]));
}
const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
console.log(JSON.stringify({
  server,
  rate: Number(rate),
  flags,
  achieved: result.rate,
  p50_ms: result.p50_us / 1000,
  p99_ms: result.p99_us / 1000,
  p999_ms: result.p999_us / 1000,
  max_ms: result.max_us / 1000,
  owed: result.owed,
  server_cpu_us_per_req: (result.server_cpu * 1e6) / result.ops,
  other_cpu: result.other_cpu,
  gc_per_100k_req: Object.fromEntries(
    Object.entries(pauses).map((
      [k, v],
    ) => [k, +(v.length * 1e5 / result.ops).toFixed(1)]),
  ),
  gc_ms_per_s: +(sum(Object.values(pauses).flat()) / result.seconds).toFixed(2),
  gc_max_pause_ms: Math.max(0, ...Object.values(pauses).flat()),
}));
