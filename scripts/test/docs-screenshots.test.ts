// npm run docs:screenshots (scripts/docs-screenshots.ts) without a browser or a database:
// scripts/lib/png.ts, which makes the screenshots small (what it decodes: every filter type of an
// RGB file as Chromium writes one, its own palettes; what it keeps exactly: a picture of few
// colours, the most common colours of one with many, anything with transparency; how far a
// many-coloured picture moves when it gets a palette), and the command line: its refusals, and
// the --grafana mode's questions to a Grafana, here a stand-in HTTP server that answers them
// (no Grafana runs here, so this checks what is asked and how an answer is taken, not pictures).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { DASHBOARD_NAMES } from '../../contract/dashboards.ts';
import { spawnTs } from '../../testing/child.ts';
import { decodePng, encodePng, pngSize, type Rgba } from '../lib/png.ts';

/** A picture whose pixel (x, y) is `colour(x, y)` as [r, g, b, a]. */
function picture(
  width: number,
  height: number,
  colour: (x: number, y: number) => [number, number, number, number],
): Rgba {
  const pixels = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) pixels.set(colour(x, y), (y * width + x) * 4);
  return { width, height, pixels };
}

/** The header fields after the size: bit depth and colour type. */
function header(file: Buffer): { depth: number; colourType: number } {
  return { depth: file[24]!, colourType: file[25]! };
}

/** A chunk as PNG frames it; the CRC is left zero, which decodePng does not check. */
function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  return Buffer.concat([length, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]);
}

/** An 8-bit RGB file whose row y uses filter type y % 5, written the way an encoder would. */
function filteredRgb(image: Rgba): Buffer {
  const { width, height, pixels } = image;
  const stride = width * 3;
  const plain = new Uint8Array(stride * height);
  for (let i = 0, j = 0; i < pixels.length; i += 4, j += 3) plain.set(pixels.subarray(i, i + 3), j);
  const at = (x: number, y: number) => (x < 0 || y < 0 ? 0 : plain[y * stride + x]!);
  const out = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const filter = y % 5;
    out[y * (stride + 1)] = filter;
    for (let x = 0; x < stride; x++) {
      const [a, b, c] = [at(x - 3, y), at(x, y - 1), at(x - 3, y - 1)];
      const p = a + b - c;
      const paeth =
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
          ? a
          : Math.abs(p - b) <= Math.abs(p - c)
            ? b
            : c;
      const predicted = [0, a, b, (a + b) >> 1, paeth][filter]!;
      out[y * (stride + 1) + 1 + x] = (at(x, y) - predicted) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(out)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('docs screenshots: small PNGs', () => {
  test('an RGB file is decoded whichever filter its rows use', () => {
    const image = picture(37, 11, (x, y) => [(x * 7 + y) & 0xff, (x * y) & 0xff, (250 - x * 3) & 0xff, 255]); // prettier-ignore
    const decoded = decodePng(filteredRgb(image));
    assert.deepEqual([decoded.width, decoded.height], [37, 11]);
    assert.deepEqual(decoded.pixels, image.pixels);
  });

  test('a picture of few colours is kept exactly, in as few bits a pixel as it needs', () => {
    const two = picture(13, 5, (x, y) => ((x + y) % 2 ? [255, 255, 255, 255] : [20, 30, 40, 255]));
    const file = encodePng(two);
    assert.deepEqual(header(file), { depth: 1, colourType: 3 });
    assert.deepEqual(decodePng(file).pixels, two.pixels);
    assert.deepEqual(pngSize(file), { width: 13, height: 5 });

    const sixteen = picture(21, 9, (x) => [(x % 16) * 16, 100, 200, 255]);
    const sixteenFile = encodePng(sixteen);
    assert.deepEqual(header(sixteenFile), { depth: 4, colourType: 3 });
    assert.deepEqual(decodePng(sixteenFile).pixels, sixteen.pixels);
  });

  test('many colours become 256: the common ones exact, the rest close', () => {
    // A page: mostly a background, some text colour, and a gradient of 64 × 64 colours.
    const image = picture(128, 96, (x, y) => {
      if (y < 32) return x % 9 === 0 ? [30, 41, 59, 255] : [245, 247, 250, 255];
      return [x * 2, (y - 32) * 4, 128, 255];
    });
    const file = encodePng(image);
    assert.deepEqual(header(file), { depth: 8, colourType: 3 });
    const decoded = decodePng(file).pixels;
    const colours = new Set<number>();
    let worst = 0;
    let total = 0;
    for (let i = 0; i < decoded.length; i += 4) {
      colours.add((decoded[i]! << 16) | (decoded[i + 1]! << 8) | decoded[i + 2]!);
      for (let c = 0; c < 3; c++) {
        const moved = Math.abs(decoded[i + c]! - image.pixels[i + c]!);
        worst = Math.max(worst, moved);
        total += moved;
      }
    }
    assert.ok(colours.size <= 256, `${colours.size} colours`);
    // 4,096 colours of a smooth gradient in 200-odd entries: a few steps of it each.
    const mean = total / ((decoded.length / 4) * 3);
    assert.ok(mean <= 3, `pixels moved by ${mean.toFixed(2)} a channel on average`);
    assert.ok(worst <= 24, `a pixel moved by ${worst} in one channel`);
    // The background and the text are what they were, to the value.
    assert.deepEqual([...decoded.subarray(4, 8)], [245, 247, 250, 255]);
    assert.deepEqual([...decoded.subarray(0, 4)], [30, 41, 59, 255]);
  });

  test('a picture with transparency is only recompressed', () => {
    const image = picture(9, 7, (x, y) => [x * 20, y * 30, 90, x === y ? 0 : 200]);
    const file = encodePng(image);
    assert.deepEqual(header(file), { depth: 8, colourType: 6 });
    assert.deepEqual(decodePng(file).pixels, image.pixels);
  });

  test('what it cannot read is refused by name', () => {
    assert.throws(() => decodePng(Buffer.from('GIF89a')), /not a PNG file/);
    const sixteenBit = Buffer.from(filteredRgb(picture(2, 2, () => [1, 2, 3, 255])));
    sixteenBit[24] = 16;
    assert.throws(() => decodePng(sixteenBit), /unsupported PNG: bit depth 16, colour type 2/);
  });
});

describe('docs screenshots: the command line', () => {
  let server: Server;
  let grafana: string;
  let out: string;
  /** What the stand-in was asked: the path and the Authorization header of each request. */
  const asked: Array<{ path: string; authorization: string | undefined }> = [];
  const right = `Basic ${Buffer.from('viewer:right password').toString('base64')}`;

  before(async () => {
    // Knows the credentials above and a token, and has none of the dashboards.
    server = createServer((request, response) => {
      asked.push({ path: request.url ?? '', authorization: request.headers.authorization });
      const known = [right, 'Bearer glsa_test'].includes(request.headers.authorization ?? '');
      response.writeHead(known ? 404 : 401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ message: known ? 'Dashboard not found' : 'Unauthorized' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    grafana = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    out = await mkdtemp(join(tmpdir(), 'refresher-docs-screenshots-'));
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(out, { recursive: true, force: true });
  });

  async function run(args: string[], env: Record<string, string> = {}) {
    const child = spawnTs('scripts/docs-screenshots.ts', ['--out', out, ...args], env);
    return { status: await child.exited, output: child.output() };
  }

  test('refuses what it cannot do, by name, and writes nothing', async () => {
    for (const [args, env, words] of [
      [['--range', '7d'], {}, /--range is for the dashboards: give --grafana URL too/],
      [['--grafana', 'ftp://grafana.example'], {}, /expected an http:\/\/ or https:\/\/ URL/],
      [['--grafana', grafana, '--range', 'a week'], {}, /--range a week: expected a number and a unit/], // prettier-ignore
      [
        ['--grafana', grafana],
        {},
        /no Grafana credentials: set GRAFANA_TOKEN .* or GRAFANA_PASSWORD/,
      ],
    ] as const) {
      const { status, output } = await run([...args], env);
      assert.equal(status, 2, output);
      assert.match(output, words);
    }
    assert.deepEqual(asked, [], 'nothing was asked of Grafana');
    assert.deepEqual(await readdir(out), []);
  });

  test('--grafana asks for each dashboard the repository provisions, with the credentials', async () => {
    asked.length = 0;
    const refused = await run(['--grafana', grafana], {
      GRAFANA_USER: 'viewer',
      GRAFANA_PASSWORD: 'wrong password',
    });
    assert.equal(refused.status, 1, refused.output);
    assert.match(refused.output, /docs:screenshots: http:\/\/127\.0\.0\.1:\d+ refused the credentials \(401\)/); // prettier-ignore
    assert.equal(asked.length, 1, 'it stops at the first refusal');

    asked.length = 0;
    const none = await run(['--grafana', `${grafana}/`], {
      GRAFANA_USER: 'viewer',
      GRAFANA_PASSWORD: 'right password',
    });
    assert.equal(none.status, 1, none.output);
    assert.match(none.output, /has none of this repository's dashboards \(Speedtester \(refresher-speedtester\), Probes/); // prettier-ignore
    assert.deepEqual(
      asked.map(({ path }) => path),
      DASHBOARD_NAMES.map((name) => `/api/dashboards/uid/refresher-${name}`),
    );
    assert.ok(asked.every(({ authorization }) => authorization === right));

    asked.length = 0;
    const token = await run(['--grafana', grafana], { GRAFANA_TOKEN: 'glsa_test' });
    assert.equal(token.status, 1, token.output);
    assert.equal(asked[0]?.authorization, 'Bearer glsa_test');
    assert.deepEqual(await readdir(out), [], 'no pictures, and nothing removed or written');
  });

  test('--grafana says so when nothing answers there', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    await new Promise((resolve) => closed.close(resolve));
    const port = typeof address === 'object' && address ? address.port : 0;
    const { status, output } = await run(['--grafana', `http://127.0.0.1:${port}`], {
      GRAFANA_PASSWORD: 'any',
    });
    assert.equal(status, 1, output);
    assert.match(output, new RegExp(`127\\.0\\.0\\.1:${port} does not answer: .*ECONNREFUSED`));
  });
});
