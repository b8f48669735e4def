/**
 * The reliability and security scenarios at a size that runs on every
 * `deno task test`; `deno task soak` runs them at full size and writes
 * `tests/RELIABILITY.md`. The scenarios themselves are in
 * `tests/soak/scenarios.ts`; each prints its seed, and `SOAK_SEED=<seed>`
 * replays a run.
 */

import { assertEquals } from "@std/assert";
import {
  assertBadInput,
  badInputFixture,
  churn,
  countOwnDescriptors,
  exhaustion,
  type Figures,
  framingFuzz,
  permissions,
  REDUCED,
  shutdown,
  slowloris,
  udpLoss,
  unixFiles,
} from "./soak/scenarios.ts";
import {
  DATAGRAMS_REDUCED,
  stuckHandlers,
  udpFlood,
} from "./soak/datagrams.ts";
import { isMissing } from "./_helpers.ts";
import { RULES_REDUCED, rulesFlood } from "./soak/rules.ts";
import {
  ENGINE_REDUCED,
  lingerReplies,
  resetFlood,
  tricklers,
} from "./soak/engine.ts";
import { REDUCED_SPAWN_LIMIT, spawnLimit } from "./soak/spawn.ts";
import {
  claimedLength,
  REDUCED_CLAIMED_LENGTH,
} from "./soak/claimed_length.ts";
import { silentTlsClients, TLS_REDUCED } from "./soak/tls.ts";

/** Prints what a scenario measured, so that a failure can be replayed from its seed. */
function report(name: string, figures: Figures): void {
  const parts = Object.entries(figures).map(([label, value]) =>
    `${label}: ${value}`
  );
  console.log(`${name}: ${parts.join("; ")}`);
}

Deno.test("a server survives churn: resets mid-exchange and throwing handlers", async () => {
  report("churn", await churn(REDUCED.churn));
});

Deno.test("idleTimeout closes silent connections while talking clients are served", async () => {
  report("slowloris", await slowloris(REDUCED.slowloris));
});

Deno.test({
  name: "a server out of descriptors backs off without spinning and recovers",
  ignore: await isMissing("prlimit", "util-linux"),
  async fn() {
    report("exhaustion", await exhaustion(REDUCED.exhaustion));
  },
});

Deno.test("SIGTERM completes in-flight exchanges, closes stuck ones at shutdownTimeout, and exits 0", async () => {
  report("shutdown", await shutdown(REDUCED.shutdown));
});

Deno.test("every public function rejects bad input with the documented class and the fix", async (t) => {
  const before = await countOwnDescriptors();
  {
    await using fixture = await badInputFixture();
    assertEquals(fixture.cases.length >= 40, true, "at least 40 cases");
    for (const badCase of fixture.cases) {
      await t.step(badCase.name, () => assertBadInput(badCase));
    }
  }
  assertEquals(await countOwnDescriptors(), before, "descriptors leaked");
});

Deno.test("lines() and frames() match a reference on random inputs split at random points", async () => {
  report("framing fuzz", await framingFuzz(REDUCED.fuzz));
});

Deno.test("socket files: never deleted when not ours, never wider than the mode, recovered after SIGKILL", async () => {
  report("unix files", await unixFiles(REDUCED.unixFiles));
});

Deno.test("every example without one of its header flags names the flag and leaves nothing behind", async () => {
  report("permissions", await permissions(REDUCED.permissions));
});

Deno.test("requestUdp() completes or reports its attempts against a server dropping 30% of datagrams", async () => {
  report("udp loss", await udpLoss(REDUCED.udpLoss));
});

Deno.test({
  name:
    "connectUdp() under a flood returns only its peer's datagrams; a kernel-connected socket gets them all",
  ignore: await isMissing("python3"),
  async fn() {
    report("udp flood", await udpFlood(DATAGRAMS_REDUCED.flood));
  },
});

Deno.test("a UDP server keeps answering while stuck handlers are given up at handlerTimeout", async () => {
  report("stuck handlers", await stuckHandlers(DATAGRAMS_REDUCED.stuck));
});

Deno.test({
  name:
    "clients that reset before accept delay no other client and are not reported",
  ignore: await isMissing("python3"),
  async fn() {
    report("resets", await resetFlood(ENGINE_REDUCED.resets));
  },
});

Deno.test("a large reply after unread input arrives whole, every time", async () => {
  report("linger", await lingerReplies(ENGINE_REDUCED.linger));
});

Deno.test("trickling clients are dropped at connectionTimeout while a real client is served", async () => {
  report("tricklers", await tricklers(ENGINE_REDUCED.tricklers));
});

Deno.test("examples/tcp_exec_server.ts runs at most 40 commands at once by default", async () => {
  report("spawn limit", await spawnLimit(REDUCED_SPAWN_LIMIT));
});

Deno.test("readExactly() of a claimed 4 GiB costs memory only for the bytes received", async () => {
  report("claimed lengths", await claimedLength(REDUCED_CLAIMED_LENGTH));
});

Deno.test({
  name:
    "silent TLS clients lose their slots at handshakeTimeout while a real client is served",
  ignore: await isMissing("openssl"),
  async fn() {
    report("silent tls", await silentTlsClients(TLS_REDUCED.silent));
  },
});

Deno.test({
  name:
    "denied clients are refused, counted and never handled while allowed ones are served",
  ignore: await isMissing("python3"),
  async fn() {
    report("rules", await rulesFlood(RULES_REDUCED.flood));
  },
});
