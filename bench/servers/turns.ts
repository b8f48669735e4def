// An echo server that records, for each read it completes, the turn of the
// event loop it completed in: a minimal reproduction of how Deno's event loop
// serves many ready sockets (bench/turns.ts drives it).
//
//   deno run -A bench/servers/turns.ts API tcp:HOST:PORT
//
// API is deno (Deno.listen, a read/write loop on a 64 KiB buffer, as
// raw_deno.ts) or node (node:net inside Deno, the "data" event). A turn is
// marked by setImmediate: the first read completed after a mark schedules
// the next one, which runs once the loop has gone round, so every read
// completed between two marks completed in one turn. A first SIGUSR2 starts
// the record, a second prints it as one JSON line.
import net from "node:net";
import { setImmediate } from "node:timers";
import { parseAddress } from "./_address.ts";
import { median } from "../_openloop.ts";

const [api, spec] = Deno.args;
const address = parseAddress(spec);
if (address.transport !== "tcp") throw new Error("TCP only");

/** Reads recorded at most: 60 s at 80,000 reads per second. */
const MAX_READS = 5_000_000;
const readTurn = new Uint32Array(MAX_READS);
const readConn = new Uint32Array(MAX_READS);
const readBytes = new Uint32Array(MAX_READS);
/** Start time of each turn (the mark that opened it), ms. */
const turnStart = new Float64Array(MAX_READS);
/** Time of the first read completed in each turn, ms. */
const firstRead = new Float64Array(MAX_READS);
let reads = 0;
let turn = 0;
let recording = false;
let marked = false;
/** The longest time between two read completions, and how many exceeded GAP_MS. */
let lastRead = 0;
let maxGap = 0;
let gaps = 0;
/** A gap this long at 20,000 req/s means the server ran nothing: 40 requests arrived. */
const GAP_MS = 2;

function nextTurn(): void {
  marked = false;
  turn++;
  turnStart[turn] = performance.now();
}

function record(conn: number, bytes: number): void {
  if (!recording || reads === MAX_READS) return;
  const now = performance.now();
  if (reads > 0) {
    maxGap = Math.max(maxGap, now - lastRead);
    if (now - lastRead > GAP_MS) gaps++;
  }
  lastRead = now;
  if (!marked) {
    marked = true;
    setImmediate(nextTurn);
    firstRead[turn] = now;
  }
  readTurn[reads] = turn;
  readConn[reads] = conn;
  readBytes[reads] = bytes;
  reads++;
}

// SIGUSR1 would start Deno's inspector: the record is driven by SIGUSR2.
let signals = 0;
Deno.addSignalListener("SIGUSR2", () => {
  if (signals++ === 0) {
    reads = 0;
    turn = 0;
    maxGap = 0;
    gaps = 0;
    turnStart[0] = performance.now();
    recording = true;
  } else {
    recording = false;
    console.log(`RECORD ${JSON.stringify(summarize())}`);
  }
});

const quantile = (a: number[], q: number) =>
  a.length ? [...a].sort((x, y) => x - y)[Math.floor(a.length * q)] : 0;

/**
 * Reads per turn, turn length (from one mark to the next, for turns that
 * completed a read), and which connections were served late: a read that
 * returned more than one 64-byte request found a request that had waited at
 * least one request interval; lateness is "sticky" when a connection late on
 * one read is late on its next one far more often than on average.
 */
function summarize() {
  const perTurn = new Map<number, number>();
  for (let i = 0; i < reads; i++) {
    perTurn.set(readTurn[i], (perTurn.get(readTurn[i]) ?? 0) + 1);
  }
  const counts = [...perTurn.values()];
  // A turn's work: from its first read to the mark that ends it; its
  // interval: from the mark before to the mark after (work plus polling).
  const lengths: number[] = [];
  const intervals: number[] = [];
  for (const t of perTurn.keys()) {
    if (t + 1 > turn) continue;
    lengths.push(turnStart[t + 1] - firstRead[t]);
    if (perTurn.has(t - 1)) intervals.push(turnStart[t + 1] - turnStart[t]);
  }
  // Lateness per connection and its persistence from one read to the next.
  const lastLate = new Map<number, boolean>();
  const lateByConn = new Map<number, number>();
  const readsByConn = new Map<number, number>();
  let late = 0, pairs = 0, lateAfterLate = 0, afterLate = 0;
  // Rank of a connection within its turn, to see whether order is fixed.
  const rankInTurn: number[] = [];
  const lastRank = new Map<number, number>();
  let rankPairs = 0, rankSum = 0, rankSumPrev = 0;
  let rankSq = 0, rankSqPrev = 0, rankCross = 0;
  let position = 0;
  for (let i = 0; i < reads; i++) {
    position = i > 0 && readTurn[i] === readTurn[i - 1] ? position + 1 : 0;
    const share = position / perTurn.get(readTurn[i])!;
    rankInTurn.push(share);
    const c = readConn[i];
    const isLate = readBytes[i] > 64;
    if (isLate) late++;
    readsByConn.set(c, (readsByConn.get(c) ?? 0) + 1);
    if (isLate) lateByConn.set(c, (lateByConn.get(c) ?? 0) + 1);
    const prev = lastLate.get(c);
    if (prev !== undefined) {
      pairs++;
      if (prev) {
        afterLate++;
        if (isLate) lateAfterLate++;
      }
    }
    lastLate.set(c, isLate);
    const prevRank = lastRank.get(c);
    if (prevRank !== undefined) {
      rankPairs++;
      rankSum += share;
      rankSumPrev += prevRank;
      rankSq += share * share;
      rankSqPrev += prevRank * prevRank;
      rankCross += share * prevRank;
    }
    lastRank.set(c, share);
  }
  const lateShares = [...readsByConn.keys()].map((c) =>
    (lateByConn.get(c) ?? 0) / readsByConn.get(c)!
  ).sort((a, b) => a - b);
  const lateTotals = [...lateByConn.values()].sort((a, b) => b - a);
  const top10 = lateTotals.slice(0, Math.ceil(readsByConn.size / 10))
    .reduce((x, y) => x + y, 0);
  const n = rankPairs;
  const cov = rankCross / n - (rankSum / n) * (rankSumPrev / n);
  const sd = Math.sqrt(rankSq / n - (rankSum / n) ** 2) *
    Math.sqrt(rankSqPrev / n - (rankSumPrev / n) ** 2);
  return {
    api,
    reads,
    turns: perTurn.size,
    reads_per_turn_median: median(counts),
    reads_per_turn_p90: quantile(counts, 0.9),
    reads_per_turn_max: Math.max(0, ...counts),
    turn_interval_ms_median: +median(intervals).toFixed(3),
    turn_interval_ms_p99: +quantile(intervals, 0.99).toFixed(3),
    turn_interval_ms_max: +Math.max(0, ...intervals).toFixed(3),
    read_gap_ms_max: +maxGap.toFixed(3),
    read_gaps_over_2ms: gaps,
    turn_ms_median: +median(lengths).toFixed(3),
    turn_ms_p99: +quantile(lengths, 0.99).toFixed(3),
    turn_ms_max: +Math.max(0, ...lengths).toFixed(3),
    late_share: +(late / reads).toFixed(4),
    late_after_late: +(lateAfterLate / Math.max(1, afterLate)).toFixed(4),
    late_top10pct_conns_share: +(top10 / Math.max(1, late)).toFixed(3),
    late_share_by_conn_p10_p50_p90: [0.1, 0.5, 0.9].map((q) =>
      +(lateShares[Math.floor(lateShares.length * q)] ?? 0).toFixed(3)
    ),
    rank_correlation_next_read: +(cov / sd).toFixed(3),
  };
}

let nextId = 0;
if (api === "deno") {
  const listener = Deno.listen({ ...address, transport: "tcp" });
  console.log(`LISTENING ${(listener.addr as Deno.NetAddr).port}`);
  for await (const conn of listener) {
    const id = nextId++;
    (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        while (true) {
          const n = await conn.read(buffer);
          if (n === null) break;
          record(id, n);
          for (let off = 0; off < n;) {
            off += await conn.write(buffer.subarray(off, n));
          }
        }
      } catch {
        // A reset by the client ends the connection.
      } finally {
        conn.close();
      }
    })();
  }
} else if (api === "node") {
  const server = net.createServer({ noDelay: true }, (socket) => {
    const id = nextId++;
    socket.on("error", () => {});
    socket.on("data", (data: Uint8Array) => {
      record(id, data.length);
      socket.write(data);
    });
  });
  server.listen(
    address.port,
    address.hostname,
    () =>
      console.log(`LISTENING ${(server.address() as net.AddressInfo).port}`),
  );
} else {
  throw new Error(`unknown API ${api}: deno or node`);
}
