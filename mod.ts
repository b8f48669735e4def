/**
 * Network programming with sockets for Deno: TCP, UDP and Unix-domain
 * servers and clients in every classic style, on Deno's own socket types.
 *
 * - `@sockets/net/server`: the engines, on one lifecycle: {@linkcode serve}
 *   for streams (concurrent, iterative with `maxConnections: 1`, idle
 *   timeouts) and {@linkcode serveDatagrams} for datagrams; both shut down
 *   gracefully, and a failing handler never takes the server down.
 * - `@sockets/net/tcp`: {@linkcode serveTcp} and {@linkcode connectTcp}, which
 *   tries every address of a host under one deadline, and
 *   {@linkcode loopbackPair}, a connected pair over loopback.
 * - `@sockets/net/udp`: {@linkcode listenUdp}, {@linkcode connectUdp},
 *   {@linkcode serveUdp} and {@linkcode requestUdp}, datagrams with their
 *   boundaries kept, and retries for a transport that loses them.
 * - `@sockets/net/unix`: {@linkcode serveUnix}, {@linkcode connectUnix},
 *   {@linkcode listenUnixDatagram}, {@linkcode connectUnixDatagram} and
 *   {@linkcode serveUnixDatagram}, shaped as their UDP counterparts, with
 *   socket files that are created with their mode and never left stale.
 * - `@sockets/net/spawn`: {@linkcode spawnHandler}, a process per
 *   connection with the connection as its stdin and stdout, the inetd way.
 * - `@sockets/net/workers`: {@linkcode serveWorkers}, a prefork pool of Web
 *   Workers sharing one port with `reusePort` (Linux).
 * - `@sockets/net/proxy`: {@linkcode readProxyHeader} and
 *   {@linkcode writeProxyHeader}, the PROXY protocol v1 and v2, and the
 *   `proxy` option that gives handlers the real client's address behind a
 *   load balancer, from trusted proxies only.
 * - `@sockets/net/io`: {@linkcode writeAll}, {@linkcode readExactly},
 *   {@linkcode copy}, {@linkcode lines}, {@linkcode frames} and
 *   {@linkcode writeFrame}, each with explicit limits.
 * - `@sockets/net/services`: {@linkcode resolvePort}, ports by number or by
 *   service name with a default, as `getservbyname()`.
 * - `@sockets/net/resolve`: {@linkcode lookupHost}, every address of a host,
 *   and {@linkcode formatAddress}, any address as text.
 * - `@sockets/net/activation`: {@linkcode activatedListeners} and
 *   {@linkcode inetdConnection}, the sockets systemd or inetd passes.
 *
 * Errors name what failed, where, and how to fix it, down to the exact
 * `--allow-net=host:port` flag a denied permission needs.
 *
 * @example An echo server and a client
 * ```ts
 * import { connectTcp, copy, serveTcp, writeAll } from "@sockets/net";
 * import { assertEquals } from "@std/assert";
 *
 * await using server = serveTcp(
 *   { hostname: "127.0.0.1", port: 0 },
 *   (conn) => copy(conn, conn),
 * );
 * using conn = await connectTcp({ port: server.addr.port, timeout: 5_000 });
 * await writeAll(conn, new TextEncoder().encode("ping"));
 * await conn.closeWrite();
 * assertEquals(await new Response(conn.readable).text(), "ping");
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

export * from "./activation.ts";
export * from "./io.ts";
export * from "./proxy.ts";
export * from "./resolve.ts";
export * from "./server.ts";
export * from "./services.ts";
export * from "./spawn.ts";
export * from "./tcp.ts";
export * from "./tls.ts";
export * from "./udp.ts";
export * from "./unix.ts";
export * from "./workers.ts";
