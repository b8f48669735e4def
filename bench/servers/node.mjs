// Node's net and dgram servers, written the idiomatic way.
//
//   node bench/servers/node.mjs KIND ADDRESS
import net from "node:net";
import dgram from "node:dgram";
import fs from "node:fs";

const [kind, spec] = process.argv.slice(2);
const greeting = Buffer.from("Hello, world!\n");
const tcp = /^(tcp|udp):(.+):(\d+)$/.exec(spec);

if (tcp && tcp[1] === "udp") {
  const socket = dgram.createSocket("udp4");
  socket.on(
    "message",
    (message, from) => socket.send(message, from.port, from.address),
  );
  socket.bind(
    Number(tcp[3]),
    tcp[2],
    () => console.log(`LISTENING ${socket.address().port}`),
  );
} else {
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on("error", () => {});
    if (kind === "hello") socket.end(greeting);
    else socket.pipe(socket);
  });
  const onListening = () => {
    const addr = server.address();
    console.log(`LISTENING ${typeof addr === "string" ? addr : addr.port}`);
  };
  if (tcp) {
    server.listen(Number(tcp[3]), tcp[2], onListening);
  } else {
    const path = spec.slice("unix:".length);
    fs.rmSync(path, { force: true });
    server.listen(path, onListening);
  }
}
