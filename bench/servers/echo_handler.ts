// The echo handler of the prefork pool: each worker imports it.
import { copy } from "@sockets/net/io";

export default (conn: Deno.TcpConn): Promise<number> => copy(conn, conn);
