// The greeting handler of the prefork pool: each worker imports it.
import { writeAll } from "@sockets/net/io";

const greeting = new TextEncoder().encode("Hello, world!\n");

export default (conn: Deno.TcpConn): Promise<void> => writeAll(conn, greeting);
