// Node's TLS server, written the idiomatic way.
//
//   node bench/servers/tls_node.mjs KIND tcp:HOST:PORT CERT KEY
import tls from "node:tls";
import fs from "node:fs";

const [kind, spec, certFile, keyFile] = process.argv.slice(2);
const greeting = Buffer.from("Hello, world!\n");
const [, host, port] = /^tcp:(.+):(\d+)$/.exec(spec);

const server = tls.createServer({
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
}, (socket) => {
  socket.setNoDelay(true);
  socket.on("error", () => {});
  if (kind === "hello") socket.end(greeting);
  else socket.pipe(socket);
});
// A client that resets during its handshake is expected under load.
server.on("tlsClientError", () => {});
server.listen(
  Number(port),
  host,
  () => console.log(`LISTENING ${server.address().port}`),
);
