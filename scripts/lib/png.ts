// Small PNGs for the docs: Chromium writes screenshots as 24- or 32-bit PNGs at its own quick
// compression, about 100-150 KB for a 1280×800 page of the portal. A page is mostly a few flat
// colours plus the anti-aliased edges of text, so a palette of 256 colours, unfiltered rows and
// zlib's best level make the same picture three to four times smaller, with no visible change.
// No image package is a dependency of the project and none is needed: node:zlib does the
// compression, and PNG's container is a handful of chunks.
import { deflateSync, inflateSync } from 'node:zlib';

export interface Rgba {
  width: number;
  height: number;
  /** 4 bytes a pixel, row after row. */
  pixels: Uint8Array;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, tail]);
}

/** A PNG's width and height, from its header (any colour type). */
export function pngSize(file: Uint8Array): { width: number; height: number } {
  const data = Buffer.from(file);
  if (!data.subarray(0, 8).equals(SIGNATURE) || data.toString('latin1', 12, 16) !== 'IHDR')
    throw new Error('not a PNG file');
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
}

/** The Paeth predictor of PNG's filter type 4. */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Decodes what Chromium writes (8-bit RGB or RGBA) and what encodePng writes (a palette of 1, 2,
 * 4 or 8 bits a pixel), not interlaced. Anything else is refused by name rather than decoded
 * wrongly.
 */
export function decodePng(file: Uint8Array): Rgba {
  const data = Buffer.from(file);
  if (!data.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file');
  let width = 0;
  let height = 0;
  let depth = 8;
  let channels = 0;
  let palette: Buffer | undefined;
  let alpha: Buffer | undefined;
  const idat: Buffer[] = [];
  for (let at = 8; at < data.length;) {
    const length = data.readUInt32BE(at);
    const type = data.toString('latin1', at + 4, at + 8);
    const body = data.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const [bits, colourType, , , interlace] = body.subarray(8, 13);
      depth = bits!;
      channels = colourType === 2 ? 3 : colourType === 6 ? 4 : colourType === 3 ? 1 : 0;
      const depthOk = colourType === 3 ? [1, 2, 4, 8].includes(depth) : depth === 8;
      if (!depthOk || channels === 0 || interlace !== 0)
        throw new Error(
          `unsupported PNG: bit depth ${depth}, colour type ${colourType}, interlace ${interlace}`,
        );
    } else if (type === 'PLTE') palette = body;
    else if (type === 'tRNS') alpha = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  if (channels === 1 && !palette) throw new Error('a palette PNG without a PLTE chunk');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = Math.ceil((width * channels * depth) / 8);
  // Filters predict from the byte one pixel to the left: a whole byte for sub-byte pixels.
  const left = Math.max(1, (channels * depth) / 8);
  const rows = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const source = y * (stride + 1) + 1;
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= left ? rows[row + x - left]! : 0;
      const b = y > 0 ? rows[row - stride + x]! : 0;
      const c = x >= left && y > 0 ? rows[row - stride + x - left]! : 0;
      const value = raw[source + x]!;
      const predicted =
        filter === 0
          ? 0
          : filter === 1
            ? a
            : filter === 2
              ? b
              : filter === 3
                ? (a + b) >> 1
                : filter === 4
                  ? paeth(a, b, c)
                  : NaN;
      if (Number.isNaN(predicted)) throw new Error(`bad PNG filter type ${filter} in row ${y}`);
      rows[row + x] = (value + predicted) & 0xff;
    }
  }
  const pixels = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      if (channels === 1) {
        const perByte = 8 / depth;
        const byte = rows[y * stride + Math.floor(x / perByte)]!;
        const index = (byte >> (8 - depth * ((x % perByte) + 1))) & ((1 << depth) - 1);
        pixels.set(palette!.subarray(index * 3, index * 3 + 3), i);
        pixels[i + 3] = alpha && index < alpha.length ? alpha[index]! : 255;
      } else {
        const j = y * stride + x * channels;
        pixels.set(rows.subarray(j, j + 3), i);
        pixels[i + 3] = channels === 4 ? rows[j + 3]! : 255;
      }
    }
  }
  return { width, height, pixels };
}

/** A colour with how many pixels have it: [r, g, b, count]. */
type Entry = [number, number, number, number];

/** Weighted mean and sum of squared distances from it, per channel. */
function spread(entries: Entry[]): { mean: number[]; error: number[]; total: number } {
  const sum = [0, 0, 0];
  const squares = [0, 0, 0];
  let total = 0;
  for (const [r, g, b, n] of entries) {
    total += n;
    sum[0]! += r * n;
    sum[1]! += g * n;
    sum[2]! += b * n;
    squares[0]! += r * r * n;
    squares[1]! += g * g * n;
    squares[2]! += b * b * n;
  }
  const mean = sum.map((s) => s / total);
  const error = squares.map((s, i) => s - (sum[i]! * sum[i]!) / total);
  return { mean, error, total };
}

/**
 * Up to `colours` palette entries for an opaque picture. The most common colours (backgrounds,
 * borders, text) are kept exactly, so flat areas do not shift by a shade; the rest (anti-aliased
 * edges, chart lines) are shared out by median cut: the box of colours with the largest error is
 * split at its weighted median along its widest channel, until the palette is full.
 */
function palette(histogram: Map<number, number>, colours: number, exact: number): number[] {
  const entries: Entry[] = [...histogram].map(([rgb, n]) => [
    rgb >>> 16,
    (rgb >>> 8) & 0xff,
    rgb & 0xff,
    n,
  ]);
  if (entries.length <= colours) return [...histogram.keys()];
  entries.sort((x, y) => y[3] - x[3]);
  const kept = entries.slice(0, exact);
  const boxes: Entry[][] = [entries.slice(exact)];
  const errors = [spread(boxes[0]!)];
  while (kept.length + boxes.length < colours) {
    let worst = -1;
    for (let i = 0; i < boxes.length; i++) {
      if (boxes[i]!.length < 2) continue;
      const total = errors[i]!.error.reduce((s, e) => s + e, 0);
      if (worst < 0 || total > errors[worst]!.error.reduce((s, e) => s + e, 0)) worst = i;
    }
    if (worst < 0) break;
    const box = boxes[worst]!;
    const { error, total } = errors[worst]!;
    const channel = error.indexOf(Math.max(...error));
    box.sort((x, y) => x[channel]! - y[channel]!);
    let half = 0;
    let cut = 1;
    for (; cut < box.length - 1; cut++) {
      half += box[cut - 1]![3];
      if (half >= total / 2) break;
    }
    const low = box.slice(0, cut);
    const high = box.slice(cut);
    boxes.splice(worst, 1, low, high);
    errors.splice(worst, 1, spread(low), spread(high));
  }
  return [
    ...kept.map(([r, g, b]) => (r << 16) | (g << 8) | b),
    ...errors.map(({ mean }) => {
      const [r, g, b] = mean.map((m) => Math.round(m));
      return (r! << 16) | (g! << 8) | b!;
    }),
  ];
}

export interface EncodeOptions {
  /** At most this many colours (2-256); a picture with fewer is kept exactly. */
  colours?: number;
  /** How many of the most common colours are kept exactly when there are more than `colours`. */
  exact?: number;
}

/**
 * An indexed PNG of the picture: every pixel the nearest palette colour (distances weighted as
 * the eye weighs red, green and blue), no dithering (it would add noise to flat areas, which
 * compresses badly and looks worse in a UI). A picture with transparency is written as it is
 * (RGBA), only recompressed.
 */
export function encodePng(image: Rgba, options: EncodeOptions = {}): Buffer {
  const { width, height, pixels } = image;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  const compress = (rows: Uint8Array) =>
    deflateSync(rows, { level: 9, memLevel: 9, windowBits: 15 });

  let opaque = true;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 255) opaque = false;
  if (!opaque) {
    ihdr.set([8, 6, 0, 0, 0], 8);
    const stride = width * 4;
    const rows = new Uint8Array((stride + 1) * height);
    for (let y = 0; y < height; y++)
      rows.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
    return Buffer.concat([
      SIGNATURE,
      chunk('IHDR', ihdr),
      chunk('IDAT', compress(rows)),
      chunk('IEND', new Uint8Array()),
    ]);
  }

  const histogram = new Map<number, number>();
  for (let i = 0; i < pixels.length; i += 4) {
    const rgb = (pixels[i]! << 16) | (pixels[i + 1]! << 8) | pixels[i + 2]!;
    histogram.set(rgb, (histogram.get(rgb) ?? 0) + 1);
  }
  const colours = Math.min(256, Math.max(2, options.colours ?? 256));
  const entries = palette(histogram, colours, Math.min(options.exact ?? 48, colours - 1));
  const index = new Map<number, number>(entries.map((rgb, i) => [rgb, i]));
  const nearest = (rgb: number): number => {
    const found = index.get(rgb);
    if (found !== undefined) return found;
    const r = rgb >>> 16;
    const g = (rgb >>> 8) & 0xff;
    const b = rgb & 0xff;
    let best = 0;
    let bestDistance = Infinity;
    entries.forEach((candidate, i) => {
      const dr = r - (candidate >>> 16);
      const dg = g - ((candidate >>> 8) & 0xff);
      const db = b - (candidate & 0xff);
      const distance = 3 * dr * dr + 4 * dg * dg + 2 * db * db;
      if (distance < bestDistance) {
        bestDistance = distance;
        best = i;
      }
    });
    index.set(rgb, best);
    return best;
  };

  // The fewest bits a pixel that still hold every index: a two-colour picture is one bit a pixel.
  const depth = entries.length <= 2 ? 1 : entries.length <= 4 ? 2 : entries.length <= 16 ? 4 : 8;
  const perByte = 8 / depth;
  const stride = Math.ceil(width / perByte);
  const rows = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (stride + 1) + 1;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const value = nearest((pixels[i]! << 16) | (pixels[i + 1]! << 8) | pixels[i + 2]!);
      const shift = 8 - depth * ((x % perByte) + 1);
      rows[row + Math.floor(x / perByte)]! |= value << shift;
    }
  }
  ihdr.set([depth, 3, 0, 0, 0], 8);
  const plte = Buffer.alloc(entries.length * 3);
  entries.forEach((rgb, i) => plte.set([rgb >>> 16, (rgb >>> 8) & 0xff, rgb & 0xff], i * 3));
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('PLTE', plte),
    chunk('IDAT', compress(rows)),
    chunk('IEND', new Uint8Array()),
  ]);
}

/** A screenshot made small: decoded, reduced to a palette, recompressed. */
export function optimizePng(file: Uint8Array, options?: EncodeOptions): Buffer {
  return encodePng(decodePng(file), options);
}
