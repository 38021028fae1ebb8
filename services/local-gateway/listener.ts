/**
 * One port for HTTP/1.1 and h2c (HTTP/2 with prior knowledge, as gRPC clients speak it). Node's
 * `http2.createServer` cannot fall back to HTTP/1.1 without TLS, so the first bytes of each connection pick
 * the server: the HTTP/2 preface starts with `PRI`, which no HTTP/1 method does.
 */
import type { Server as HttpServer } from 'node:http';
import type { Http2Server } from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';

const H2_PREFACE_START = Buffer.from('PRI');

/**
 * HTTP/2 sessions read the socket's handle directly and would miss bytes already read, so they get a
 * stream that replays those bytes first and then relays the socket. HTTP/1.1 handles `unshift` itself.
 */
function relay(socket: Socket, first: Buffer): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, callback) {
      socket.write(chunk, encoding, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  Object.assign(duplex, { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort });
  duplex.push(first);
  socket.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('close', () => duplex.destroy());
  socket.on('error', (error) => duplex.destroy(error));
  return duplex;
}

export interface DualProtocolServer {
  server: Server;
  /** Stops accepting and ends every connection (the HTTP servers never listen, so they cannot track them). */
  close(): Promise<void>;
}

export function createDualProtocolServer(http1: HttpServer, http2: Http2Server): DualProtocolServer {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < H2_PREFACE_START.length) return;
      socket.off('data', onData);
      socket.pause();
      if (received.subarray(0, H2_PREFACE_START.length).equals(H2_PREFACE_START)) {
        http2.emit('connection', relay(socket, received));
      } else {
        socket.unshift(received);
        http1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  });
  return {
    server,
    close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      return closed;
    },
  };
}
