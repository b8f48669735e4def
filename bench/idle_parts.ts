// What an idle connection costs, part by part: VmRSS per connection of the
// variants in bench/servers/idle_parts.ts, 5,000 connections each echoed
// once, interleaved over rounds; prints per variant the VmRSS growth (median,
// min–max), the JavaScript heap's (after a collection) and the ArrayBuffer
// backing stores', each per connection.
//
//   deno run -A bench/idle_parts.ts [ROUNDS] [CONNS] [VARIANT,...]
//
// Needs bench/.build/loadgen (built by bench/run.ts).
import { median } from "./_openloop.ts";

const BENCH = new URL(".", import.meta.url).pathname;
const ROUNDS = Number(Deno.args[0] ?? 3);
const CONNS = Number(Deno.args[1] ?? 5_000);
/** Lazy allocations settle in this long (as bench/run.ts's idle test). */
const SETTLE_MS = 1_000;
const ALL_VARIANTS = [
  "raw-hold",
  "raw-read64",
  "raw-read1k",
  "module-hold",
  "module-read64",
  "module-read1k",
  "module-copy",
];
const VARIANTS = Deno.args[2]?.split(",") ?? ALL_VARIANTS;

/** The hard limit of open files: servers and the load generator get it. */
const FILES = (await Deno.readTextFile("/proc/self/limits")).split("\n")
  .find((l) => l.startsWith("Max open files"))?.trim().split(/\s+/)[4];
const NOFILE = `--nofile=${FILES ?? 65_536}:${FILES ?? 65_536}`;

async function rssKb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

/** Reads until `word` and returns the rest of its line. */
async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  word: string,
): Promise<string> {
  let text = "";
  while (!/\n/.test(text.slice(text.indexOf(word))) || !text.includes(word)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`no ${word}`);
    text += value;
  }
  return text.slice(text.indexOf(word) + word.length).split("\n")[0].trim();
}

async function measure(variant: string): Promise<number[]> {
  const server = new Deno.Command("prlimit", {
    args: [
      NOFILE,
      Deno.execPath(),
      "run",
      "-A",
      "--unstable-net",
      "--v8-flags=--expose-gc",
      `${BENCH}servers/idle_parts.ts`,
      variant,
      "tcp:127.0.0.1:0",
    ],
    stdout: "piped",
  }).spawn();
  try {
    const out = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const port = await readUntil(out, "LISTENING");
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const before = await rssKb(server.pid);
    const heap = async () => {
      Deno.kill(server.pid, "SIGUSR2");
      return (await readUntil(out, "HEAP")).split(" ").map(Number);
    };
    const [used0, external0] = await heap();
    const load = new Deno.Command("prlimit", {
      args: [
        NOFILE,
        `${BENCH}.build/loadgen`,
        "idle",
        `tcp:127.0.0.1:${port}`,
        "-c",
        String(CONNS),
      ],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    await readUntil(
      load.stdout.pipeThrough(new TextDecoderStream()).getReader(),
      "READY",
    );
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const after = await rssKb(server.pid);
    const [used1, external1] = await heap();
    await load.stdin.close();
    load.kill("SIGKILL");
    await load.status;
    return [
      ((after - before) * 1024) / 1000 / CONNS,
      (used1 - used0) / 1000 / CONNS,
      (external1 - external0) / 1000 / CONNS,
    ];
  } finally {
    try {
      server.kill("SIGKILL");
    } catch { /* exited already */ }
    await server.status;
  }
}

/** RSS, JavaScript heap (after a collection) and ArrayBuffer stores, KB per connection. */
const results = new Map<string, number[][]>(VARIANTS.map((v) => [v, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const variant of VARIANTS) {
    results.get(variant)!.push(await measure(variant));
  }
}
console.log("variant        RSS KB/conn (min–max)   JS heap   ArrayBuffers");
for (const [variant, samples] of results) {
  const rss = samples.map((s) => s[0]);
  console.log(
    `${variant.padEnd(14)} ${median(rss).toFixed(2)} (${
      Math.min(...rss).toFixed(2)
    }–${Math.max(...rss).toFixed(2)})   ${
      median(samples.map((s) => s[1])).toFixed(2)
    }   ${median(samples.map((s) => s[2])).toFixed(2)}`,
  );
}
