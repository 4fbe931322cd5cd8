/**
 * `npm run bench:decode`: decoding one client frame, the schema alone (zod, as before issue 15)
 * against decodeClientMessage (hand-checked plain changes and presence, zod for the rest), in
 * one run, same process, rounds interleaved (each started by another decoder) so that drift on a
 * shared machine and garbage collection hit both alike.
 *
 * Frames: what the client SDK sends per keystroke (a one-character insert, a one-character
 * delete), a cursor move, and a bold insert (which the fast path leaves to zod: the cost of
 * looking first). Each decoder sees 1,000 distinct frames of a kind, cycled. Pure CPU, no I/O.
 *
 * JSON.parse alone is timed alongside, as the floor: "ratio past JSON.parse" compares what each
 * decoder spends on top of it.
 *
 * Options (env): BENCH_ROUNDS (12), BENCH_ROUND_MS (200).
 */
import { decodeClientMessage, decodeClientMessageBySchema, type DecodeResult } from '../src/protocol/decode.js';
import { describeEnvironment, describeVersions, median } from './environment.js';

const DOC = '0f8fad5b-d9cb-469f-a165-70867728950e';
const ACTOR = 'b3c1a2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d';

const clock = (i: number): string => `{"actor":"${ACTOR}","seq":${i + 1},"rev":${1000 + i}}`;
const letter = (i: number): string => String.fromCharCode(97 + (i % 26));

const FRAMES: Readonly<Record<string, (i: number) => string>> = {
  'change: 1-char insert': (i) => `{"type":"change","doc":"${DOC}","clock":${clock(i)},"ops":[{"type":"insert","pos":${(i * 37) % 5000},"text":"${letter(i)}"}]}`,
  'change: 1-char delete': (i) => `{"type":"change","doc":"${DOC}","clock":${clock(i)},"ops":[{"type":"delete","pos":${(i * 37) % 5000},"len":1}]}`,
  'presence: cursor move': (i) => `{"type":"presence","doc":"${DOC}","rev":${1000 + i},"selection":{"anchor":${i % 5000},"head":${i % 5000}},"typing":true}`,
  'change: bold insert (zod)': (i) => `{"type":"change","doc":"${DOC}","clock":${clock(i)},"ops":[{"type":"insert","pos":${(i * 37) % 5000},"text":"${letter(i)}","attrs":{"bold":true}}]}`,
};

type Decoder = (text: string) => Pick<DecodeResult, 'ok'>;
/** JSON.parse alone is the floor both decoders stand on. */
const parseOnly: Decoder = (text) => ({ ok: JSON.parse(text) !== null });
const DECODERS: readonly (readonly [string, Decoder])[] = [
  ['zod only', decodeClientMessageBySchema],
  ['fast path', decodeClientMessage],
  ['JSON.parse', parseOnly],
];

/** µs per frame over one round of about `roundMs`. */
function timeRound(decode: Decoder, frames: readonly string[], roundMs: number): number {
  let decoded = 0;
  let accepted = 0;
  const started = performance.now();
  let elapsed = 0;
  do {
    for (const frame of frames) if (decode(frame).ok) accepted++;
    decoded += frames.length;
    elapsed = performance.now() - started;
  } while (elapsed < roundMs);
  if (accepted !== decoded) throw new Error('a benchmark frame was refused');
  return (elapsed * 1000) / decoded;
}

function checkSameResults(frames: readonly string[]): void {
  for (const frame of frames) {
    if (JSON.stringify(decodeClientMessage(frame)) !== JSON.stringify(decodeClientMessageBySchema(frame))) throw new Error(`decoders differ on ${frame}`);
  }
}

const fmtUs = (us: number): string => `${us.toFixed(2)} µs`;

function main(): void {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 12);
  const roundMs = Number(process.env.BENCH_ROUND_MS ?? 200);
  console.log(`environment: ${describeEnvironment()}`);
  console.log(`versions: ${describeVersions(['zod'])}`);
  console.log(`workload: 1,000 distinct frames per kind, ${rounds} interleaved rounds of ~${roundMs} ms per decoder; median µs per frame (JSON.parse included)`);
  console.log('');
  console.log(`${'frame'.padEnd(28)}${'bytes'.padStart(6)}${DECODERS.map(([name]) => name.padStart(12)).join('')}${'ratio'.padStart(8)}${'ratio past JSON.parse'.padStart(23)}`);
  for (const [kind, make] of Object.entries(FRAMES)) {
    const frames = Array.from({ length: 1000 }, (_, i) => make(i));
    checkSameResults(frames);
    for (const [, decode] of DECODERS) timeRound(decode, frames, roundMs); // warm-up: JIT both
    const perFrame = DECODERS.map((): number[] => []);
    // Each round starts with another decoder: the one after zod pays for zod's garbage.
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < DECODERS.length; k++) {
        const d = (round + k) % DECODERS.length;
        const decode = DECODERS[d]?.[1];
        if (decode) perFrame[d]?.push(timeRound(decode, frames, roundMs));
      }
    }
    const medians = perFrame.map(median);
    const [zod, fast, parse] = medians;
    if (zod === undefined || fast === undefined || parse === undefined) throw new Error('no timing');
    const ratio = (before: number, after: number): string => `${(before / after).toFixed(1)}x`;
    console.log(`${kind.padEnd(28)}${String(frames[0]?.length ?? 0).padStart(6)}${medians.map((us) => fmtUs(us).padStart(12)).join('')}${ratio(zod, fast).padStart(8)}${ratio(zod - parse, fast - parse).padStart(23)}`);
  }
}

main();
