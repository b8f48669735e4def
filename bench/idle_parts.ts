// What an idle connection costs, part by part: VmRSS per connection of the
// variants in bench/servers/idle_parts.ts, 5,000 connections each echoed
// once, interleaved over rounds; prints one line per variant (median, min–max).
//
//   deno run -A bench/idle_parts.ts [ROUNDS] [CONNS]
//
// Needs bench/.build/loadgen (built by bench/run.ts).
const BENCH = new URL(".", import.meta.url).pathname;
const ROUNDS = Number(Deno.args[0] ?? 3);
const CONNS = Number(Deno.args[1] ?? 5_000);
/** Lazy allocations settle in this long (as bench/run.ts's idle test). */
const SETTLE_MS = 1_000;
const VARIANTS = [
  "raw-hold",
  "raw-read64",
  "raw-read1k",
  "module-hold",
  "module-read1k",
  "module-copy",
];

async function rssKb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  word: string,
): Promise<void> {
  let text = "";
  while (!text.includes(word)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`no ${word}`);
    text += value;
  }
}

async function measure(variant: string): Promise<number> {
  const port = 40_000 + Math.floor(Math.random() * 10_000);
  const server = new Deno.Command("prlimit", {
    args: [
      "--nofile=65536:65536",
      Deno.execPath(),
      "run",
      "-A",
      "--unstable-net",
      `${BENCH}servers/idle_parts.ts`,
      variant,
      `tcp:127.0.0.1:${port}`,
    ],
    stdout: "piped",
  }).spawn();
  try {
    await readUntil(
      server.stdout.pipeThrough(new TextDecoderStream()).getReader(),
      "LISTENING",
    );
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const before = await rssKb(server.pid);
    const load = new Deno.Command("prlimit", {
      args: [
        "--nofile=65536:65536",
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
    await load.stdin.close();
    load.kill("SIGKILL");
    await load.status;
    return ((after - before) * 1024) / 1000 / CONNS;
  } finally {
    server.kill("SIGKILL");
    await server.status;
  }
}

const results = new Map<string, number[]>(VARIANTS.map((v) => [v, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const variant of VARIANTS) {
    results.get(variant)!.push(await measure(variant));
  }
}
for (const [variant, values] of results) {
  const sorted = [...values].sort((a, b) => a - b);
  console.log(
    `${variant.padEnd(14)} ${sorted[sorted.length >> 1].toFixed(2)} KB/conn (${
      sorted[0].toFixed(2)
    }–${sorted.at(-1)!.toFixed(2)})`,
  );
}
