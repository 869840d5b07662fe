// A TCP transfer with its content checked by SHA-256 on both ends. Run in namespaces:
//   node tcp-xfer.js server HOST PORT          prints "LISTENING", then "RESULT {bytes,sha256}"
//   node tcp-xfer.js client HOST PORT BYTES [BYTES_PER_SECOND]
//                                              sends BYTES random bytes (paced when a rate is
//                                              given: a long-lived connection), prints "RESULT {...}"
import { createHash, randomBytes } from 'node:crypto';
import { createConnection, createServer } from 'node:net';

const [mode, host, portText, bytesText, rateText] = process.argv.slice(2);
const rate = rateText === undefined ? 0 : Number(rateText);
const port = Number(portText);

if (mode === 'server' && host) {
  const server = createServer((socket) => {
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    socket.on('end', () => {
      process.stdout.write(`RESULT ${JSON.stringify({ bytes, sha256: hash.digest('hex') })}\n`);
      socket.end();
      server.close();
    });
  });
  server.listen(port, host, () => process.stdout.write('LISTENING\n'));
} else if (mode === 'client' && host) {
  const total = Number(bytesText);
  const hash = createHash('sha256');
  const socket = createConnection({ host, port }, () => {
    let sent = 0;
    const started = Date.now();
    const pump = (): void => {
      while (sent < total) {
        if (rate > 0 && sent > ((Date.now() - started) / 1000) * rate) return void setTimeout(pump, 20);
        const chunk = randomBytes(Math.min(rate > 0 ? 4096 : 64 * 1024, total - sent));
        hash.update(chunk);
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  });
  socket.on('close', () => process.stdout.write(`RESULT ${JSON.stringify({ bytes: total, sha256: hash.digest('hex') })}\n`));
  socket.on('error', (e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
  socket.resume();
} else {
  process.stderr.write('usage: tcp-xfer server HOST PORT | client HOST PORT BYTES\n');
  process.exit(2);
}
