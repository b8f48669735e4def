/**
 * UDP sockets, servers and clients, on `Deno.listenDatagram`.
 *
 * UDP is the classic tutorial's datagram transport: a server binds a port,
 * `send` is `sendto()`, `receive` is `recvfrom()`, and `connect` pins one
 * peer. Each send is one datagram and each receive returns one whole
 * datagram, but nothing guarantees delivery, order or pacing: a datagram may
 * be lost, duplicated or reordered, and a fast sender can overrun a slow
 * receiver. The functions here map onto those facts:
 *
 * - {@linkcode listenUdp} (`udp_socket.ts`): a {@linkcode UdpSocket} bound
 *   to a local address, to send to and receive from anyone, with multicast
 *   membership;
 * - {@linkcode connectUdp} (`connect_udp.ts`): a
 *   {@linkcode ConnectedUdpSocket} pinned to one peer, which drops (and
 *   counts) datagrams from anyone else, as a connected UDP socket does;
 * - {@linkcode serveUdp} (`serve_udp.ts`): the datagram server loop on the
 *   module's one datagram engine, with bounded concurrency and a graceful
 *   shutdown, whose handler returns the reply;
 * - {@linkcode requestUdp} (`request_udp.ts`): the client that an
 *   unreliable transport needs, which sends, waits, and retries with
 *   exponential backoff, all within one `timeout`.
 *
 * The sockets have the same shape as the Unix datagram sockets of
 * `@sockets/net/unix`: `receive()` gives `{ data, from }` (or the payload,
 * once connected), `send()` resolves to the bytes sent, and both `using`
 * and `await using` close them. `listenUdp` and `serveUdp` are synchronous
 * (a bind needs no round trip); `connectUdp` and `requestUdp` are async (a
 * host name needs a lookup). A wildcard address (`0.0.0.0`, `::`, as in the
 * `addr` of a server listening on every address) means this host when
 * dialled, as in Go.
 *
 * Sizes: a payload may carry at most {@linkcode MAX_UDP_PAYLOAD_IPV4}
 * (65,507) bytes over IPv4 and {@linkcode MAX_UDP_PAYLOAD_IPV6} (65,527)
 * over IPv6; larger ones are refused with a `RangeError` before anything is
 * sent. Every receive uses a 65,536-byte buffer, larger than any UDP payload,
 * so a datagram is never silently truncated. (Deno's own default receive
 * buffer is 65,507 bytes, which cuts large IPv6 datagrams short.)
 *
 * Permissions: UDP needs `--unstable-net` in Deno 2 (its absence is reported
 * as such) and `--allow-net` for the local address bound (port 0 included,
 * e.g. `--allow-net=127.0.0.1:0` or `--allow-net=127.0.0.1`) and for every
 * destination (`--allow-net=127.0.0.1:5353`).
 *
 * @example A tour: a server on every address, a request, a connected socket
 * ```ts
 * import { connectUdp, listenUdp, requestUdp, serveUdp } from "@sockets/net/udp";
 * import { assertEquals } from "@std/assert";
 *
 * const encoder = new TextEncoder();
 * const decoder = new TextDecoder();
 *
 * // Listens on 0.0.0.0; dialling its addr reaches 127.0.0.1.
 * await using server = serveUdp({ port: 0 }, (data) => data);
 * const reply = await requestUdp(encoder.encode("ping"), server.addr, {
 *   attemptTimeout: 500,
 *   timeout: 5_000,
 * });
 * assertEquals(decoder.decode(reply), "ping");
 *
 * await using client = await connectUdp(server.addr);
 * await client.send(encoder.encode("again"));
 * assertEquals(decoder.decode(await client.receive()), "again");
 *
 * using socket = listenUdp({ hostname: "127.0.0.1", port: 0 });
 * const sent = await socket.send(encoder.encode("hi"), server.addr);
 * const { data, from } = await socket.receive();
 * assertEquals([sent, decoder.decode(data), from.port], [2, "hi", server.addr.port]);
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

export * from "./udp_socket.ts";
export * from "./connect_udp.ts";
export * from "./serve_udp.ts";
export * from "./request_udp.ts";
export type {
  DatagramContext,
  DatagramHandler,
  DatagramReply,
  DatagramServer,
  DatagramServerCounters,
  ServeDatagramsOptions,
} from "./datagram_server.ts";
export type { ServerOptions } from "./_lifecycle.ts";
export type { AccessRules } from "./_rules.ts";
