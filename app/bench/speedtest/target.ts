// The built-in target alone, for bench:speedtest to run inside a network namespace.
//   node --import tsx app/bench/speedtest/target.ts --host 10.213.7.1 --port 8080
import { createServer } from 'node:http';
import express from 'express';
import { z } from 'zod';
import { speedtestTarget } from '../../src/speedtest/target.ts';
import { count, parseFlags } from '../common.ts';

const flags = parseFlags(
  'speedtest',
  z.object({ host: z.string().default('127.0.0.1'), port: count(1, 65535, 8080) }),
);
const app = express();
// The client is in another namespace (10.213.7.2), not on loopback: exempt everyone, so the bench
// measures the link, not the per-client limits.
app.use(
  '/speedtest',
  speedtestTarget({ rateLimitPerMinute: 1_000_000, unlimitedCidrs: ['0.0.0.0/0', '::/0'] }),
);
createServer(app).listen(flags.port, flags.host, () => console.log('ready'));
