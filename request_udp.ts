/**
 * The UDP request: {@linkcode requestUdp} sends a datagram and waits for the
 * answer, retrying with exponential backoff under one deadline, as a client
 * over an unreliable transport must.
 *
 * @example Ask an echo server
 * ```ts
 * import { requestUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveUdp({ hostname: "127.0.0.1", port: 0 }, (data) => data);
 * const reply = await requestUdp(new Uint8Array([1, 2]), server.addr, {
 *   timeout: 5_000,
 * });
 * assertEquals(reply, new Uint8Array([1, 2]));
 * ```
 *
 * @module
 */

import { ipFamily, joinHostPort } from "./_address.ts";
import { abortable, deadline, delay, MAX_TIMER_DELAY_MS } from "./_async.ts";
import {
  assertPayload,
  assertPayloadSize,
  familyOf,
  resolveTarget,
} from "./_udp.ts";
import {
  assertFunction,
  assertHostname,
  assertKnownOptions,
  assertMilliseconds,
  assertOptions,
  assertSignal,
  assertTimeout,
  show,
} from "./_validate.ts";
import { connectUdp } from "./connect_udp.ts";
import type { UdpTarget } from "./udp_socket.ts";

/**
 * First wait for an answer: RFC 8085 section 3.1.3 asks for at least one
 * second before a retransmission when no round-trip time is known, as TCP's
 * initial timeout (RFC 6298).
 */
const DEFAULT_ATTEMPT_TIMEOUT_MS = 1_000;

/** Retransmissions after the first send: four attempts, 15 s at worst with the default waits and backoff. */
const DEFAULT_RETRIES = 3;

/** Each wait is this many times the previous one: the doubling of RFC 8085 section 3.1.3 and RFC 6298 section 5.5. */
const DEFAULT_BACKOFF = 2;

/** The names of {@linkcode RequestUdpOptions}, for the unknown-option check. */
const REQUEST_UDP_OPTION_NAMES: readonly string[] = [
  "timeout",
  "attemptTimeout",
  "retries",
  "backoff",
  "signal",
  "accept",
  "localHostname",
  "defaultPort",
];

/**
 * Options of {@linkcode requestUdp}.
 *
 * @example Five attempts of 200, 400, 800... ms, within three seconds in all
 * ```ts
 * import type { RequestUdpOptions } from "@sockets/net/udp";
 *
 * const options: RequestUdpOptions = {
 *   attemptTimeout: 200,
 *   retries: 4,
 *   timeout: 3_000,
 * };
 * ```
 */
export interface RequestUdpOptions {
  /**
   * Milliseconds for the whole call: the name lookup and every attempt
   * together. On expiry the promise rejects with `Deno.errors.TimedOut`,
   * listing the attempts made; `Infinity` leaves the attempts alone to
   * bound the call.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /**
   * Milliseconds to wait for an answer to the first attempt; each retry
   * waits `backoff` times longer than the one before.
   *
   * @default {1000}
   */
  attemptTimeout?: number;
  /**
   * Sends after the first one, when no answer comes. `0` sends once.
   *
   * @default {3}
   */
  retries?: number;
  /**
   * The factor between successive waits: `2` doubles them, `1` keeps them
   * equal.
   *
   * @default {2}
   */
  backoff?: number;
  /**
   * Aborts the request, whatever attempts remain; the promise rejects with
   * the signal's reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Decides whether a datagram from the peer is the answer, for protocols
   * that tag requests (a DNS id, a sequence number), so that a late answer
   * to an earlier attempt or to another request is skipped.
   *
   * @default {every datagram from the peer is the answer}
   */
  accept?: (data: Uint8Array<ArrayBuffer>) => boolean;
  /**
   * The local address to send from, as for `connectUdp`.
   *
   * @default {the loopback or wildcard address of the peer's family}
   */
  localHostname?: string;
  /**
   * The port to use when `to.port` is a service name that is not found.
   *
   * @default {undefined} (an unknown service name throws)
   */
  defaultPort?: number;
}

/**
 * Sends a request datagram and waits for the answer from that peer,
 * retrying with exponential backoff: the client style that an unreliable
 * transport needs. The waits are `attemptTimeout`,
 * `attemptTimeout × backoff`, `attemptTimeout × backoff²`, ... for
 * `retries + 1` attempts in all; `timeout` and `signal` bound the whole
 * request. A wildcard address (`0.0.0.0`, `::`, as in the `addr` of a
 * server listening on every address) means this host's loopback.
 *
 * Requests must be safe to repeat: a lost answer looks the same as a lost
 * request, so the server may see a request more than once.
 *
 * A port where nobody listens shows only as a timeout, after every attempt:
 * Linux reports the ICMP port unreachable (as ECONNREFUSED) only to a
 * socket connected in the kernel, and Deno 2.9 has no connect(2) for UDP
 * (`Deno.listenDatagram` cannot connect, and `node:dgram`'s `connect()`
 * only remembers the peer, sending with `sendto` to it), so the error never
 * reaches the program. Lower `retries` or `timeout` to fail sooner.
 *
 * It is async for the exchange itself, and for the name lookup of a host
 * name.
 *
 * @param data The request: at most 65,507 bytes over IPv4, 65,527 over IPv6.
 * @param to The server, such as `server.addr` or `{ hostname, port }`.
 * @param options Deadline, per-attempt wait, retries, backoff and answer matching.
 * @returns The answer's payload.
 * @throws {TypeError} If an argument has the wrong type, or an option name
 * is unknown.
 * @throws {RangeError} If `data` is too large, the port is invalid, or an
 * option is out of range.
 * @throws {Deno.errors.TimedOut} If no answer came after the last attempt,
 * or `timeout` passed first; the message lists the attempts.
 * @throws {Deno.errors.NotCapable} Without net permission; the message names
 * the flag.
 *
 * @example Ask a time server, with retries, within five seconds
 * ```ts
 * import { requestUdp, serveUdp } from "@sockets/net/udp";
 * import { assert } from "@std/assert";
 *
 * await using server = serveUdp({ port: 0 }, () =>
 *   new TextEncoder().encode(new Date().toISOString()));
 *
 * const answer = await requestUdp(new Uint8Array(0), server.addr, {
 *   attemptTimeout: 200,
 *   retries: 4,
 *   timeout: 5_000,
 * });
 * assert(answer.length > 0);
 * ```
 */
export async function requestUdp(
  data: Uint8Array,
  to: UdpTarget,
  options: RequestUdpOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  assertPayload(data, "data");
  assertOptions(options);
  assertKnownOptions(options, REQUEST_UDP_OPTION_NAMES);
  const {
    timeout,
    attemptTimeout = DEFAULT_ATTEMPT_TIMEOUT_MS,
    retries = DEFAULT_RETRIES,
    backoff = DEFAULT_BACKOFF,
    signal,
    accept,
    localHostname,
    defaultPort,
  } = options ?? {};
  assertTimeout(timeout, "options.timeout");
  assertMilliseconds(
    attemptTimeout,
    "options.attemptTimeout",
    "leave it out for 1000 ms",
  );
  if (attemptTimeout === 0) {
    throw new RangeError(
      "options.attemptTimeout must be more than 0 ms, got 0; it is the wait for the first answer",
    );
  }
  if (
    !(typeof retries === "number" && Number.isInteger(retries) && retries >= 0)
  ) {
    throw new (typeof retries === "number" ? RangeError : TypeError)(
      `options.retries must be an integer, 0 or more (0 sends once), got ${
        show(retries)
      }`,
    );
  }
  if (
    !(typeof backoff === "number" && backoff >= 1 && Number.isFinite(backoff))
  ) {
    throw new (typeof backoff === "number" ? RangeError : TypeError)(
      `options.backoff must be a finite number, 1 or more (2 doubles each wait), got ${
        show(backoff)
      }`,
    );
  }
  assertSignal(signal, "options.signal");
  if (accept !== undefined) {
    assertFunction(accept, "options.accept", "(data) => boolean");
  }
  const localFamily = localHostname === undefined
    ? undefined
    : ipFamily(assertHostname(localHostname, "options.localHostname"));

  const attempts: string[] = [];
  let address = typeof to === "object" && to !== null
    ? joinHostPort(String(to.hostname), to.port as number)
    : show(to);
  const failure = (why: string) =>
    new Deno.errors.TimedOut(
      `request udp ${address}: ${why} after ${attempts.length} attempt${
        attempts.length === 1 ? "" : "s"
      }${
        attempts.length === 0 ? "" : ` (${attempts.join("; ")})`
      }; check that a server is listening there, or raise options.timeout, options.attemptTimeout or options.retries`,
    );
  let inFlight: string | undefined;
  using call = deadline(timeout, signal, () => {
    if (inFlight !== undefined) attempts.push(inFlight);
    return failure(`no answer within the timeout of ${timeout} ms`);
  });
  call.signal.throwIfAborted();
  const peer = await abortable(
    resolveTarget(to, "to", {
      family: localFamily,
      signal: call.signal,
      defaultPort,
    }),
    call.signal,
  );
  address = joinHostPort(peer.hostname, peer.port);
  assertPayloadSize(data, familyOf(peer));
  await using socket = await connectUdp({
    hostname: peer.hostname,
    port: peer.port,
    localHostname,
  });

  const answer = (async () => {
    for (;;) {
      const reply = await socket.receive();
      if (accept === undefined || accept(reply)) return reply;
    }
  })();
  // Closing the socket at the end rejects the receive still waiting.
  answer.catch(() => {});

  let wait = attemptTimeout;
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    call.signal.throwIfAborted();
    let sendError: string | undefined;
    try {
      await socket.send(data);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) throw error;
      sendError = `attempt ${attempt}: ${
        error instanceof Error ? error.message : String(error)
      }`;
    }
    inFlight = sendError ?? `attempt ${attempt}: no answer before the timeout`;
    const result = await abortable(
      Promise.race([
        answer,
        delay(Math.min(wait, MAX_TIMER_DELAY_MS), call.signal),
      ]),
      call.signal,
    );
    inFlight = undefined;
    if (result !== undefined) return result;
    attempts.push(sendError ?? `attempt ${attempt}: no answer in ${wait} ms`);
    wait *= backoff;
  }
  throw failure("no answer");
}
