// Child process of test/helpers/s3.ts: runs s3rver (a filesystem-backed S3 API server) on a free loopback
// port. Run with --openssl-legacy-provider: s3rver encrypts ListObjectsV2 continuation tokens with DES, which
// OpenSSL 3 only has in its legacy provider (without it, any listing longer than one page fails with a 500).
// Talks to the parent over IPC: sends {port} once listening; answers 'log' with every request served so far
// (recorded as each arrives, before it is answered, so a client that got its response is in the log).
import S3rver from 's3rver';

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, vhostBuckets: false, configureBuckets: [{ name: bucket }] });
const address = await server.run();
const requests = [];
server.httpServer.on('request', (req) => requests.push(`${req.method} ${req.url}`));
process.on('message', (m) => {
  if (m === 'log') process.send({ log: requests });
});
process.send({ port: address.port });
