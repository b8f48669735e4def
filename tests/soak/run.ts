/**
 * Runs every reliability scenario at full size and writes what each one
 * measured to `tests/RELIABILITY.md`.
 *
 * Usage: `deno task soak`, or
 * `deno run -A --unstable-net [--import-map=import_map.offline.json] tests/soak/run.ts`.
 * `SOAK_SEED=<seed>` replays a run's random choices. Exits 1 if a scenario
 * fails; the report then says which, and how.
 *
 * @module
 */

import {
  badInput,
  BUSY_LOOP_CPU_SHARE,
  churn,
  exhaustion,
  type Figures,
  framingFuzz,
  FULL,
  permissions,
  shutdown,
  slowloris,
  udpLoss,
  unixFiles,
} from "./scenarios.ts";
import { DATAGRAMS_FULL, stuckHandlers, udpFlood } from "./datagrams.ts";
import { ENGINE_FULL, lingerReplies, resetFlood, tricklers } from "./engine.ts";
import { FULL_SPAWN_LIMIT, spawnLimit } from "./spawn.ts";
import { claimedLength, FULL_CLAIMED_LENGTH } from "./claimed_length.ts";
import { silentTlsClients, TLS_FULL } from "./tls.ts";
import { RULES_FULL, rulesFlood } from "./rules.ts";

interface Scenario {
  title: string;
  /** What the scenario does and what it asserts. */
  about: string;
  run: () => Promise<Figures>;
}

const scenarios: Scenario[] = [
  {
    title: "Churn",
    about:
      `${FULL.churn.connections} connections to a TCP echo server, ${FULL.churn.concurrency} at a time. Each client, chosen at random: echoes a random 1 B to 16 KiB payload (70%), resets mid-exchange by closing with unread data, which sends an RST (20%), or asks its handler to throw (10%). Asserted: no crash, every well-behaved client gets its exact bytes, every throw is reported to onError, every other exchange either completed or failed with a reset, and the server's socket descriptors come back to the baseline.`,
    run: () => churn(FULL.churn),
  },
  {
    title: "Slowloris",
    about:
      `${FULL.slowloris.attackers} connections that never send a byte, against a server with idleTimeout ${FULL.slowloris.idleTimeout} ms, while one client pings every quarter of the timeout on a long-lived connection and a new client connects during the attack. Asserted: every silent connection is closed by the server (EOF), the long-lived client gets every pong exactly and outlives the attack, the new client is served, nothing is reported as an error, and the descriptors come back to the baseline.`,
    run: () => slowloris(FULL.slowloris),
  },
  {
    title: "Descriptor exhaustion",
    about:
      `The server runs under \`prlimit --nofile=${FULL.exhaustion.maxFiles}:${FULL.exhaustion.maxFiles}\` and meets a burst of ${FULL.exhaustion.burst} connections (each connect with a ${FULL.exhaustion.connectTimeout} ms timeout: past the listen backlog the kernel drops SYNs). Asserted: accept fails with EMFILE and the server survives; its CPU time over ${FULL.exhaustion.cpuWindow} ms of exhaustion stays under ${
        BUSY_LOOP_CPU_SHARE * 100
      }% of the wall time (a busy accept loop keeps a core at about 100%, a backing-off one near 0%); once the burst closes, every connection that got in (held or in the backlog) is served, a new client is served, and the descriptors come back to the baseline.`,
    run: () => exhaustion(FULL.exhaustion),
  },
  {
    title: "Graceful shutdown under load",
    about:
      `SIGTERM while ${FULL.shutdown.inFlight} exchanges (each ${FULL.shutdown.work} ms of work) and ${FULL.shutdown.stuck} stuck ones are in flight, shutdownTimeout ${FULL.shutdown.shutdownTimeout} ms. Asserted: every in-flight exchange completes byte for byte, the stuck ones are closed at the deadline, a client arriving after SIGTERM is not served, nothing is reported as an error, and the process exits 0 by itself.`,
    run: () => shutdown(FULL.shutdown),
  },
  {
    title: "Bad input",
    about:
      "A table of wrong calls across every public function: ports, hosts, paths, payload types, oversize datagrams, oversize and malformed frames, closed sockets, aborted signals, wrong handler types, files in the way. Asserted for each: the documented error class, a message that says the fix, and no descriptor left open (also checked per case by Deno's sanitizers in `tests/reliability_test.ts`).",
    run: () => badInput(),
  },
  {
    title: "Framing fuzz",
    about:
      `${FULL.fuzz.inputs} random inputs each for \`lines()\` (ASCII, CR, LF, CRLF, multi-byte and invalid UTF-8, BOMs; maxLineLength from 1 to Infinity) and \`frames()\` (frames within and over maxFrameSize, up to past 64 KiB; inputs cut short or with trailing garbage), delivered in pieces cut at random points. Asserted: the output matches a simple reference implementation byte for byte, with the same error class at the same place.`,
    run: () => framingFuzz(FULL.fuzz),
  },
  {
    title: "Unix socket files",
    about:
      `A server never deletes a regular file, a directory or a live server's socket at its path (it refuses to start, and the live server keeps serving); the socket of a server killed with SIGKILL is replaced by the next one; and across ${FULL.unixFiles.modeStarts} starts with mode 0o600, another process polling \`lstat\` in a tight loop never sees the socket with a wider mode.`,
    run: () => unixFiles(FULL.unixFiles),
  },
  {
    title: "Permissions",
    about:
      "Every example in `examples/` is run without each of its header flags in turn. Asserted: it exits non-zero, names the flag, prints no stack trace, and leaves no socket file, no private directory and no child process behind.",
    run: () => permissions(FULL.permissions),
  },
  {
    title: "UDP under loss",
    about:
      `${FULL.udpLoss.requests} \`requestUdp()\` calls, ${FULL.udpLoss.concurrency} at a time, against a server that ignores a random 30% of datagrams. Asserted: every request returns its exact answer within its retry budget, or fails with TimedOut listing every attempt.`,
    run: () => udpLoss(FULL.udpLoss),
  },
  {
    title: "UDP flood against a connected socket",
    about:
      `A Python process floods two receivers with 512-byte datagrams for ${DATAGRAMS_FULL.flood.floodMs} ms while a Python peer sends each of them the same ${DATAGRAMS_FULL.flood.datagrams} numbered datagrams, one pair every 0.2 ms. One receiver is \`connectUdp()\`, which drops other senders' datagrams in the program (Deno has no connect(2) for UDP); the other a Python socket connected in the kernel. Asserted: the kernel-connected socket gets all of the peer's datagrams, and \`connectUdp()\` returns only the peer's; how many of them it got is measured.`,
    run: () => udpFlood(DATAGRAMS_FULL.flood),
  },
  {
    title: "Stuck datagram handlers",
    about:
      `${DATAGRAMS_FULL.stuck.bursts} bursts of ${DATAGRAMS_FULL.stuck.stuck} datagrams whose handler never settles, one burst per handlerTimeout (${DATAGRAMS_FULL.stuck.handlerTimeout} ms), against a UDP server with maxConcurrency 16, while a client makes ${DATAGRAMS_FULL.stuck.requests} \`requestUdp()\` calls. Asserted: every request is answered, and every stuck handler is given up and reported to onError as TimedOut.`,
    run: () => stuckHandlers(DATAGRAMS_FULL.stuck),
  },
  {
    title: "Clients that reset before accept",
    about:
      `A well-behaved client's connect-to-reply time over ${ENGINE_FULL.resets.requests} requests, quiet and then while Python clients connect and reset (SO_LINGER {1, 0}) at ${ENGINE_FULL.resets.resetsPerSecond} per second for ${
        ENGINE_FULL.resets.attack / 1000
      } s. Asserted: every request is answered, nothing is reported to onError, and the median under attack is within 2× the quiet one (plus 5 ms of scheduling slack).`,
    run: () => resetFlood(ENGINE_FULL.resets),
  },
  {
    title: "Lingering close",
    about:
      `${ENGINE_FULL.linger.tries} clients each send 64 KiB that the handler never reads, then read its 4 MiB reply slowly. Asserted: every reply arrives whole, ending with a clean end of stream, not a reset.`,
    run: () => lingerReplies(ENGINE_FULL.linger),
  },
  {
    title: "Trickling clients",
    about:
      `${ENGINE_FULL.tricklers.tricklers} clients each send one byte every ${ENGINE_FULL.tricklers.byteInterval} ms (never idle for idleTimeout ${ENGINE_FULL.tricklers.idleTimeout} ms) against maxConnections ${ENGINE_FULL.tricklers.maxConnections} and connectionTimeout ${ENGINE_FULL.tricklers.connectionTimeout} ms, while a real client asks for a reply. Asserted: every trickler is closed by the server, the real client is served, nothing is reported to onError.`,
    run: () => tricklers(ENGINE_FULL.tricklers),
  },
  {
    title: "Process per connection: the default limit",
    about:
      `${FULL_SPAWN_LIMIT.clients} clients connect at once to \`examples/tcp_exec_server.ts\`, run without \`--max-connections\`; each command is a shell that waits ${FULL_SPAWN_LIMIT.hold} ms and answers. The commands alive are counted from \`/proc\` throughout. Asserted: every client gets its answer, and never more commands are alive at once than the example's default limit (40, \`tcpserver -c\`'s default); the other clients wait in the listen backlog.`,
    run: () => spawnLimit(FULL_SPAWN_LIMIT),
  },
  {
    title: "Claimed lengths",
    about:
      `${FULL_CLAIMED_LENGTH.clients} connections each declare a body of 4 GiB - 1 bytes in a 4-byte header, send ${
        FULL_CLAIMED_LENGTH.bytes / 1024 / 1024
      } MiB of it and close, against a server that reads the body with \`readExactly(conn, length, { maxLength: Infinity })\` (the limit lifted on purpose); the server's memory is read from \`/proc/<pid>/status\` while every body is pending. Asserted: each client's read fails with UnexpectedEof naming the bytes received and the length claimed, the server's RSS grows by at most twice the bytes received plus 32 MiB, and its virtual memory does not grow by the claimed length (a buffer reserved up front: 16 GiB).`,
    run: () => claimedLength(FULL_CLAIMED_LENGTH),
  },
  {
    title: "Silent TLS clients",
    about:
      `${TLS_FULL.silent.clients} connections that never start the TLS handshake, against \`serveTls\` with maxConnections ${TLS_FULL.silent.maxConnections} and handshakeTimeout ${TLS_FULL.silent.handshakeTimeout} ms (lingerTimeout 0), then a real TLS client that asks for a reply. The server's side of each connection is counted in \`/proc/net/tcp\`. Asserted: the real client is served once the waves of silent clients have timed out, only it reaches the handler, every slot is free, nothing is reported to onError, and once the silent clients leave, no server socket is left and the descriptors come back to the baseline (within the 2 the runtime opens for its first TLS server).`,
    run: () => silentTlsClients(TLS_FULL.silent),
  },
  {
    title: "Access rules under a flood of denied clients",
    about:
      `A dual-stack server allows 127.0.0.1 and denies ::1. An allowed client makes ${RULES_FULL.flood.requests} requests quiet, then ${RULES_FULL.flood.requests} more while ${RULES_FULL.flood.concurrency} threads of a Python process connect from ::1 until at least ${RULES_FULL.flood.denied} denied connections are made. Asserted: every denied connection is closed unread and counted in \`counters.refusedByRules\`, no handler runs for any, every allowed request is answered, and nothing is reported to onError; the allowed client's median connect-to-reply time is measured, quiet and during the flood.`,
    run: () => rulesFlood(RULES_FULL.flood),
  },
];

function escape(value: string | number): string {
  return String(value).replaceAll("|", "\\|");
}

const sections: string[] = [];
let failed = 0;
const started = performance.now();
for (const scenario of scenarios) {
  console.log(`${scenario.title}...`);
  const start = performance.now();
  let table: string;
  try {
    const figures = await scenario.run();
    const seconds = ((performance.now() - start) / 1000).toFixed(1);
    table = [
      "| figure | value |",
      "|---|---|",
      ...Object.entries(figures).map(([label, value]) =>
        `| ${escape(label)} | ${escape(value)} |`
      ),
      `| scenario time | ${seconds} s |`,
    ].join("\n");
    console.log(figures);
  } catch (error) {
    failed++;
    console.error(error);
    const message = error instanceof Error ? error.message : String(error);
    table = `**FAILED**:\n\n\`\`\`\n${message}\n\`\`\``;
  }
  sections.push(`## ${scenario.title}\n\n${scenario.about}\n\n${table}\n`);
}
const total = ((performance.now() - started) / 1000).toFixed(0);

const report = `# Reliability and security figures

What a server built with @sockets/net was put through, and what it did.
Generated by \`deno task soak\` (\`tests/soak/run.ts\`), which runs the
scenarios of \`tests/soak/scenarios.ts\` at full size; \`deno task test\` runs
the same scenarios at a reduced size (\`tests/reliability_test.ts\`).
Servers run as child processes (\`tests/soak/echo_server.ts\`) so that their
descriptors and CPU time can be read from \`/proc\`. Descriptor counts are of
socket descriptors: the runtime opens and closes its own cache files on its
own schedule, so only sockets can be compared exactly. Every scenario that
draws random choices reports its seed; \`SOAK_SEED=<seed> deno task soak\`
replays it.

- Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${Deno.build.os} ${Deno.osRelease()}, ${navigator.hardwareConcurrency} CPUs
- Run in ${total} s; ${
  failed === 0 ? "every scenario passed" : `${failed} scenario(s) FAILED`
}.

${sections.join("\n")}`;

const path = new URL("../RELIABILITY.md", import.meta.url);
await Deno.writeTextFile(path, report);
// Written as `deno fmt` would, so that `deno task check` stays clean.
await new Deno.Command(Deno.execPath(), {
  args: ["fmt", "--quiet", path.pathname],
}).output();
console.log(`wrote ${path.pathname} in ${total} s`);
if (failed > 0) Deno.exit(1);
