// Turns of the event loop under the open-loop load: runs
// bench/servers/turns.ts (an instrumented echo server, Deno.listen or
// node:net inside Deno) pinned to CPU 0 under `loadgen openloop` on CPU 1,
// and prints the load generator's latency figures beside the server's record
// of the measured seconds: reads per turn, turn length, and whether the same
// connections are served late turn after turn.
//
//   deno run -A bench/turns.ts API RATE [CONNS]
//
// API is deno or node; RATE the total request rate; CONNS 256 by default.
// Needs bench/.build/loadgen (built by bench/run.ts).
const BENCH = new URL(".", import.meta.url).pathname;
const [api = "deno", rate = "20000", conns = "256"] = Deno.args;
/** Seconds measured, after a second of warm-up (as bench/tail_gc.ts). */
const SECONDS = 4;
const WARMUP = 1;

const child = new Deno.Command("taskset", {
  args: [
    "-c",
    "0",
    Deno.execPath(),
    "run",
    "-A",
    "--unstable-net",
    `${BENCH}servers/turns.ts`,
    api,
    "tcp:127.0.0.1:0",
  ],
  stdout: "piped",
}).spawn();
let record;
let result;
// The server is killed however this ends: Deno leaves child processes running.
try {
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  const readLine = async (word: string) => {
    while (!new RegExp(`${word} .*\\n`).test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`server ended before ${word}`);
      text += value;
    }
    return new RegExp(`${word} (.*)\\n`).exec(text)![1];
  };
  const port = await readLine("LISTENING");
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
      conns,
      "-d",
      String(SECONDS),
      "-w",
      String(WARMUP),
      "-p",
      String(child.pid),
    ],
  }).output();
  await new Promise((r) => setTimeout(r, WARMUP * 1000));
  Deno.kill(child.pid, "SIGUSR2");
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  Deno.kill(child.pid, "SIGUSR2");
  record = JSON.parse(await readLine("RECORD"));
  result = JSON.parse(new TextDecoder().decode((await load).stdout));
} finally {
  try {
    child.kill("SIGKILL");
  } catch {
    // It exited already.
  }
  await child.status;
}
console.log(JSON.stringify({
  rate: Number(rate),
  conns: Number(conns),
  achieved: Math.round(result.rate),
  p50_ms: result.p50_us / 1000,
  p99_ms: result.p99_us / 1000,
  p999_ms: result.p999_us / 1000,
  owed: result.owed,
  server_cpu_us_per_req: +((result.server_cpu * 1e6) / result.ops).toFixed(1),
  other_cpu: result.other_cpu,
  ...record,
}));
