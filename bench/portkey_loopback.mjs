// Preloaded into the Portkey gateway (node --import) by bench/run.sh: its server listens on every
// interface (serve({ port }) without a host); the benchmark keeps everything on 127.0.0.1, so a
// listen() given a port and no host gets 127.0.0.1. Nothing else of Portkey is changed.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
