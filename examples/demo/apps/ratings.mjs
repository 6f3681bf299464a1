// ratings: a TCP echo server on 9000.
import net from 'node:net';

const port = Number(process.env.PORT ?? 9000);
net
  .createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => sock.destroy());
    sock.pipe(sock);
  })
  .listen(port, () => process.stdout.write(`ratings echo listening on ${port}\n`));
