// Round trips per second, one byte each way, over Unix stream sockets made
// three ways: native Deno.UnixConns (Deno.listen / Deno.connect), the two
// ends of socketPair() (adopted descriptors), and a DescriptorChannel pair
// (the module's own recvmsg on the one poller, a 4-byte header per message).
//
//   deno run -A bench/descriptors.ts [--seconds=2] [--rounds=3]
//
// Rounds are interleaved so that a slow moment of the machine touches every
// way alike; each line gives every round's figure and the median.

import { DescriptorChannel, socketPair } from "../fd.ts";
import { median } from "./_openloop.ts";

const flag = (name: string, fallback: number) =>
  Number(
    Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ??
      fallback,
  );
/** How long each measurement lasts. */
const SECONDS = flag("seconds", 2);
/** How many interleaved rounds. */
const ROUNDS = flag("rounds", 3);

async function pingPong(a: Deno.Conn, b: Deno.Conn): Promise<number> {
  const one = new Uint8Array(1);
  const echo = (async () => {
    const buffer = new Uint8Array(1);
    while ((await b.read(buffer)) !== null) await b.write(buffer);
  })();
  const buffer = new Uint8Array(1);
  const end = performance.now() + SECONDS * 1000;
  let trips = 0;
  while (performance.now() < end) {
    await a.write(one);
    await a.read(buffer);
    trips++;
  }
  a.close();
  await echo.catch(() => {});
  b.close();
  return trips / SECONDS;
}

async function native(): Promise<number> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/bench.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const [a, b] = await Promise.all([
    Deno.connect({ transport: "unix", path }),
    listener.accept(),
  ]);
  listener.close();
  const rate = await pingPong(a, b);
  await Deno.remove(dir, { recursive: true });
  return rate;
}

function pair(): Promise<number> {
  const [a, b] = socketPair();
  return pingPong(a, b);
}

async function channels(): Promise<number> {
  const [a, b] = DescriptorChannel.pair();
  const one = new Uint8Array(1);
  const echo = (async () => {
    for (;;) {
      const message = await b.receive();
      if (message === null) return;
      await b.send(message.payload);
    }
  })();
  const end = performance.now() + SECONDS * 1000;
  let trips = 0;
  while (performance.now() < end) {
    await a.send(one);
    await a.receive();
    trips++;
  }
  a.close();
  await echo.catch(() => {});
  b.close();
  return trips / SECONDS;
}

const ways = {
  "native Deno.UnixConn": native,
  "socketPair() ends": pair,
  "DescriptorChannel": channels,
};
const results = new Map<string, number[]>(
  Object.keys(ways).map((k) => [k, []]),
);
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(ways)) {
    results.get(name)!.push(await run());
  }
}
const base = median(results.get("native Deno.UnixConn")!);
for (const [name, rates] of results) {
  const m = median(rates);
  console.log(
    `${name.padEnd(22)} ${
      rates.map((r) => Math.round(r)).join(", ")
    } round trips/s; median ${Math.round(m)} (${
      (m / base).toFixed(2)
    }× native)`,
  );
}
